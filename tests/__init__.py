"""The tests as packages, so that files in different folders may share a name: unit/ mirrors
pipeline/ module by module (unit/engine/ the run's steps, its state and its pure planning,
without the command line); e2e/ holds what goes through a whole run (the engine wired to
files, the command line, the Python API)."""
