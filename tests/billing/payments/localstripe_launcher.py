"""Runs localstripe with its state kept in a file of the test's own (the first argument) instead of the shared
/tmp/localstripe.pickle, which every localstripe on the machine writes: a test can then stop its Stripe (an outage)
and start it again with the customers, cards and intents it had.

    python localstripe_launcher.py STATE_FILE --port N [--from-scratch]
"""

import pickle
import sys

from localstripe import resources
from localstripe.server import start

STATE = sys.argv.pop(1)


def _load(store) -> None:
    try:
        with open(STATE, "rb") as state:
            saved = pickle.load(state)  # noqa: S301 -- the file this test's own localstripe wrote
    except FileNotFoundError:
        return
    store.clear()
    store.update(saved)


def _dump(store) -> None:
    with open(STATE, "wb") as state:
        pickle.dump(store, state, protocol=pickle.HIGHEST_PROTOCOL)


resources.Store.try_load_from_disk = _load
resources.Store.dump_to_disk = _dump

if __name__ == "__main__":
    start()
