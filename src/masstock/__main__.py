from masstock.cli.main import run

run()
