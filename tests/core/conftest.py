import torch

# One intra-op thread, as in the workers: these tiny layers only lose from more,
# and the suite shares two cores with worker processes.
torch.set_num_threads(1)
