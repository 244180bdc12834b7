from daybreak.client.cli import main

main()
