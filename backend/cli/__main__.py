"""`python -m backend.cli`, as `trainboard up` starts its API and worker."""

from backend.cli import main

main()
