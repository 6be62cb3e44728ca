"""Redis broker: pub/sub between nodes, Streams for history, a hash for each snapshot.

Per channel ``C`` (under a key prefix, ``tickwire`` by default) Redis holds:

* ``{prefix}:ch:C`` — a hash with the channel's ``seq``, its ``epoch`` and its ``latest``
  frame (the snapshot any node can answer a new subscriber with at once);
* ``{prefix}:hist:C`` — a Stream of the last publications, bounded by length
  (``MAXLEN ~``) and by age (``MINID ~``, and the key expires after the age bound);
* ``{prefix}:pub:C`` — the pub/sub channel that carries ``"<epoch> <seq> <frame>"``.

Modules: :mod:`.broker` (:class:`RedisBroker`: publishing and reads), :mod:`.scripts` (the
Lua scripts that publish and read atomically), :mod:`.listener` (this node's
subscriptions, reconnect and gap fill), :mod:`.link` (the raw pub/sub connection),
:mod:`.packing` (commands packed in C).
"""

from .broker import RedisBroker

__all__ = ["RedisBroker"]
