from rnncast.client.cli import main

main()
