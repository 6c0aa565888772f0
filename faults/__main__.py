import sys

from faults.campaign import main

sys.exit(main(sys.argv[1:]))
