"""The Tracker against a real `playlog up`: what game servers send arrives exactly once,
through a restart of the server, and a server that stays down fills the buffer under
its policy."""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from playlog.client import Backoff, Batching, BufferFull, Tracker
from tests.support.client_only import run_client_only
from tests.support.deadline import scaled
from tests.support.events import LOGIN, fresh_game, login
from tests.support.server import Server

PATIENT = Backoff(first_s=0.05, max_s=1.0, give_up_after_s=600)  # outlasts a restart


def _game(server: Server, game: str = "g1") -> str:
    key = server.game(game)
    assert server.register(game, "login", LOGIN).status_code == 201
    return key


def _loaded_exactly(server: Server, seqs: set[int], game: str = "g1") -> None:
    """Every one of ``seqs`` is in the warehouse, once, and nothing else."""
    assert server.wait_for_rows(f"{game}.login", len(seqs)) == len(seqs)
    assert server.seqs(f"{game}.login") == seqs


def test_events_from_several_threads_arrive_exactly(shared_server: Server) -> None:
    server, game = shared_server, fresh_game("tr")
    key = _game(server, game)
    threads, per_thread = 4, 1500
    with Tracker(server.url, game, key, batching=Batching(max_events=400)) as tracker:

        def play(first: int) -> None:
            for seq in range(first, first + per_thread):
                tracker.track("login", login(seq))

        with ThreadPoolExecutor(threads) as pool:
            for played in [pool.submit(play, i * per_thread) for i in range(threads)]:
                played.result()  # raises what track() raised in that thread
    total = threads * per_thread
    assert (tracker.stats.sent, tracker.stats.failed, tracker.stats.dropped) == (total, 0, 0)
    _loaded_exactly(server, set(range(total)), game)


def test_a_server_restarted_mid_stream_loses_nothing_and_doubles_nothing(server: Server) -> None:
    key = _game(server)
    total = 3000
    tracker = Tracker(
        server.url,
        "g1",
        key,
        batching=Batching(max_events=50, linger_s=0.01),
        backoff=PATIENT,
        block_timeout_s=scaled(300),
        timeout_s=5,
    )
    stopped, restarted = threading.Event(), threading.Event()

    def restart() -> None:
        server.stop()
        stopped.set()
        server.start()
        restarted.set()

    restarter = threading.Thread(target=restart)
    for seq in range(total):
        tracker.track("login", login(seq))
        if seq == total // 3:
            assert tracker.flush(scaled(60))  # some batches landed before the stop
            restarter.start()  # the next third goes out while the server stops
        if seq == 2 * total // 3:
            assert stopped.wait(scaled(120))  # and the last third while it is down
    restarter.join(scaled(400))
    assert restarted.is_set()
    tracker.close(scaled(300))
    assert (tracker.stats.sent, tracker.stats.failed) == (total, 0)
    assert tracker.stats.retried > 0  # the restart did hit batches on their way
    _loaded_exactly(server, set(range(total)))


def test_a_stopped_server_fills_the_buffer_and_the_policy_holds(server: Server) -> None:
    key = _game(server)
    capacity = 200
    dropping = Tracker(
        server.url, "g1", key, capacity=capacity, when_full="drop", backoff=PATIENT, timeout_s=5
    )
    blocking = Tracker(  # gzip bodies, through the real server too
        server.url, "g1", key, capacity=10, block_timeout_s=0.5, backoff=PATIENT, timeout_s=5,
        compress=True,
    )  # fmt: skip
    dropping.track("login", login(0))  # the schema is fetched while the server is up
    blocking.track("login", login(100_000))
    assert dropping.flush(scaled(60)) and blocking.flush(scaled(60))
    server.stop()

    kept = [dropping.track("login", login(seq)) for seq in range(1, capacity + 101)]
    assert kept == [True] * capacity + [False] * 100
    assert (dropping.stats.dropped, dropping.buffered) == (100, capacity)
    for seq in range(100_001, 100_011):
        blocking.track("login", login(seq))
    with pytest.raises(BufferFull):
        blocking.track("login", login(100_011))

    server.start()
    dropping.close(scaled(120))
    blocking.close(scaled(120))
    assert (dropping.stats.sent, dropping.stats.failed) == (1 + capacity, 0)
    assert (blocking.stats.sent, blocking.stats.failed) == (11, 0)
    _loaded_exactly(server, set(range(capacity + 1)) | set(range(100_000, 100_011)))


def test_the_client_alone_sends_with_nothing_but_fastavro_installed(
    shared_server: Server,
) -> None:
    # The README's client-alone install: playlog's files and fastavro, nothing else.
    server, game = shared_server, fresh_game("tr")
    key = _game(server, game)
    events = json.dumps([login(seq) for seq in range(500)])
    stats = run_client_only(
        f"""
import json
from playlog.client import Batching, Tracker
with Tracker({server.url!r}, {game!r}, {key!r}, batching=Batching(max_events=100)) as tracker:
    for event in json.loads({events!r}):
        tracker.track("login", event)
print(tracker.stats.sent, tracker.stats.failed)
"""
    )
    assert stats.split() == ["500", "0"]
    _loaded_exactly(server, set(range(500)), game)
