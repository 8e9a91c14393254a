from strato.server.cli import main

main()
