import os

HERE = os.path.dirname(os.path.abspath(__file__))


def load_table(name):
    with open(os.path.join(HERE, 'tables', name + '.csv')) as handle:
        return [line.strip() for line in handle if line.strip()]
