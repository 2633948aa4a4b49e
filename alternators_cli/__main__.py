from alternators_cli.cli import main

main()
