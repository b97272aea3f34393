import sys

from vahti.cli import main

sys.exit(main())
