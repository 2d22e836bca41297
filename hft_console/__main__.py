import sys

from hft_console.cli import main

sys.exit(main())
