"""Which unacknowledged Celery messages go back to their queues (shared.workers.orphaned)."""

from __future__ import annotations

from shared.workers import orphaned, wid_parts

ME = "enrich@a|hostA/1|100|aaaa"
SAME_HOST_DEAD = "enrich@a|hostA/1|99|bbbb"
SAME_HOST_LIVE = "notify@a|hostA/1|101|cccc"
SAME_PID_EARLIER = "enrich@a|hostA/1|100|dddd"  # a predecessor that had our pid (a container)
OTHER_HOST = "enrich@b|hostB/7|100|eeee"
NOW = 1_000.0


def _decide(
    held: dict[str, str | None], *, alive: set[str], trust: bool, age: float = 1.0
) -> set[str]:
    delivered = dict.fromkeys(held, NOW - age)
    return set(
        orphaned(
            held,
            delivered,
            alive,
            me=ME,
            now=NOW,
            dead_after=20.0,
            trust_expiry=trust,
            local_pid_alive=lambda pid: pid in (100, 101),
        )
    )


class TestOrphaned:
    def test_own_messages_are_never_restored(self) -> None:
        assert _decide({"t": ME}, alive=set(), trust=True, age=999) == set()

    def test_a_dead_process_on_this_host_gives_its_work_back_at_once(self) -> None:
        # No waiting for its heartbeat to expire, and no need to trust expiry yet.
        assert _decide({"t": SAME_HOST_DEAD}, alive={SAME_HOST_DEAD}, trust=False) == {"t"}

    def test_a_predecessor_with_our_pid_is_gone(self) -> None:
        assert _decide({"t": SAME_PID_EARLIER}, alive={SAME_PID_EARLIER}, trust=False) == {"t"}

    def test_a_live_process_on_this_host_keeps_its_work(self) -> None:
        assert _decide({"t": SAME_HOST_LIVE}, alive=set(), trust=False) == set()

    def test_another_host_keeps_its_work_while_it_beats(self) -> None:
        assert _decide({"t": OTHER_HOST}, alive={OTHER_HOST}, trust=True, age=999) == set()

    def test_another_host_loses_it_once_its_heartbeat_expired(self) -> None:
        assert _decide({"t": OTHER_HOST}, alive=set(), trust=True) == {"t"}

    def test_an_expired_heartbeat_counts_only_once_we_have_beaten_long_enough(self) -> None:
        # Right after a Redis outage nobody's key is there: the others may just not be back yet.
        assert _decide({"t": OTHER_HOST}, alive=set(), trust=False) == set()

    def test_an_unrecorded_message_waits_out_the_dead_period(self) -> None:
        # Delivered a moment ago: its worker has not recorded it yet.
        assert _decide({"t": None}, alive=set(), trust=True, age=5) == set()
        assert _decide({"t": None}, alive=set(), trust=True, age=25) == {"t"}
        assert _decide({"t": None}, alive=set(), trust=False, age=25) == set()


class TestWorkerIds:
    def test_parts(self) -> None:
        assert wid_parts(ME) == ("hostA/1", 100)

    def test_foreign_ids_have_no_host(self) -> None:
        assert wid_parts("celery@x") == ("", 0)
        assert wid_parts("a|b|c|d") == ("", 0)
