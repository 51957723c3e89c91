from deliver.cli import main

main()
