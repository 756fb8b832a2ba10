from cio_cli.cli import main

main()
