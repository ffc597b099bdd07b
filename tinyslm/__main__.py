from tinyslm._entry import main

main()
