from tinyslm.cli import main

main()
