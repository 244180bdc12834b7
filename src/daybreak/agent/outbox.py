"""Status updates that the scheduler has not acknowledged yet, kept on disk until it does.

Sequence numbers only grow, across restarts too: the next number and the highest acknowledged
one live in the outbox file's companion, and every update is appended to the outbox before it
is sent. On start the agent re-reads what is unacknowledged and sends it again, in order; the
scheduler ignores numbers it has already applied.

Acknowledgements are noted in memory only. The counters are saved and the file emptied when
everything is acknowledged and the file has grown past `COMPACT_AT_BYTES`, when a connection
begins, and when the agent stops. An agent killed in between offers some acknowledged updates
again, which the scheduler's numbers make harmless; in exchange an acknowledgement costs no
file write.
"""

from __future__ import annotations

import os
from pathlib import Path

import msgspec

from daybreak.model.agent_protocol import StatusUpdate


class _Counters(msgspec.Struct, frozen=True, kw_only=True):
    next_seq: int = 1
    acked_seq: int = 0


COMPACT_AT_BYTES = 256 * 1024

_decoder = msgspec.json.Decoder(StatusUpdate)
_encoder = msgspec.json.Encoder()


class Outbox:
    def __init__(self, work_dir: Path) -> None:
        self._log = work_dir / "outbox"
        self._counters_path = work_dir / "outbox.seq"
        counters = _Counters()
        if self._counters_path.exists():
            counters = msgspec.json.decode(self._counters_path.read_bytes(), type=_Counters)
        self.acked_seq = counters.acked_seq
        self.pending: list[StatusUpdate] = []
        if self._log.exists():
            for line in self._log.read_bytes().splitlines():
                try:
                    update = _decoder.decode(line)
                except msgspec.DecodeError:
                    continue  # a torn last line: that update was never sent
                if update.seq > self.acked_seq:
                    self.pending.append(update)
        last = self.pending[-1].seq if self.pending else 0
        self._next_seq = max(counters.next_seq, last + 1, self.acked_seq + 1)
        self._fd = os.open(self._log, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o644)
        self._log_bytes = os.fstat(self._fd).st_size

    def add(self, update: StatusUpdate) -> StatusUpdate:
        """Number the update, keep it, and return it numbered for sending."""
        numbered = msgspec.structs.replace(update, seq=self._next_seq)
        self._next_seq += 1
        self._log_bytes += os.write(self._fd, _encoder.encode(numbered) + b"\n")
        self.pending.append(numbered)
        return numbered

    def ack(self, seq: int) -> None:
        if seq <= self.acked_seq:
            return
        self.acked_seq = seq
        self.pending = [update for update in self.pending if update.seq > seq]
        if self._log_bytes >= COMPACT_AT_BYTES:
            self._compact()

    def _compact(self) -> None:
        if self.pending:
            return
        # The counters first: the emptied file no longer says what the next number is.
        self._save_counters()
        os.ftruncate(self._fd, 0)
        self._log_bytes = 0

    def unacked_after(self, applied_seq: int) -> list[StatusUpdate]:
        """What to send again to a scheduler that has applied everything up to `applied_seq`."""
        self.ack(applied_seq)
        self._compact()  # once per connection: a file worth emptying may be emptied now
        return list(self.pending)

    def _save_counters(self) -> None:
        counters = _Counters(next_seq=self._next_seq, acked_seq=self.acked_seq)
        temporary = self._counters_path.with_suffix(".tmp")
        temporary.write_bytes(msgspec.json.encode(counters))
        temporary.replace(self._counters_path)

    def close(self) -> None:
        self._compact()
        os.close(self._fd)
