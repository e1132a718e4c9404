"""The tutorial's method as a library: data, models, training, forecasts, checkpoints, plots.

Depends on torch, numpy, safetensors and matplotlib only; never on the web,
queue or storage layers.
"""
