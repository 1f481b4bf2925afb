#!/usr/bin/env bash
# Seed 003's hello-world job: wait a little, then say which compute node ran it.
# HELLO_SLEEP (default 30 s, as in the seed) shortens the wait in tests.
#SBATCH --job-name=hello
#SBATCH --nodes=1
#SBATCH --ntasks=1
sleep "${HELLO_SLEEP:-30}"
echo "Hello World from $(hostname)"
