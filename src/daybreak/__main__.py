from daybreak.main import main

main()
