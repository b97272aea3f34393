from vahti.cli import run

run()
