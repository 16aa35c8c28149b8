import sys

try:
    from malaria_gui.cli import main
except KeyboardInterrupt:  # Ctrl+C in the first milliseconds, before main() can catch it
    print("\ninterrupted", file=sys.stderr)
    sys.exit(130)

if __name__ == "__main__":  # not when multiprocessing imports it in the scoring process
    sys.exit(main())
