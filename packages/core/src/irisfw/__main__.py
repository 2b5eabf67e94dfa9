from irisfw.cli import main

main()
