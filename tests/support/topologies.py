"""Redis topologies for the tests: Sentinel (primary, replica, three sentinels) and Cluster (three primaries).

Built from `support.servers.RedisProcess` without redis-cli; each ``start()``
returns once the topology is usable, and a half-built one never outlives a
failed start.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from types import TracebackType
from typing import Any, TypeVar

import redis
from redis.cluster import ClusterNode, RedisCluster
from redis.sentinel import Sentinel

from dashboard.embedded import RedisBinary, default_redis_server, stop_all
from support.servers import LOOPBACK, RedisProcess, SentinelProcess, userinfo, wait_until

__all__ = ["ClusterGroup", "SentinelGroup"]

CLUSTER_SLOTS = 16384


_G = TypeVar("_G", bound="_Group")


class _Group(ABC):
    """Shared lifecycle of a multi-process topology."""

    @abstractmethod
    def _processes(self) -> list[RedisProcess]:
        """Every process of the topology, for stop()."""

    @abstractmethod
    def start(self: _G) -> _G:
        """Start every process and wait until the topology is usable."""

    def stop(self, grace: float = 5.0) -> None:
        stop_all(self._processes(), grace=grace)

    def _start_guarded(self, steps: Callable[[], None]) -> None:
        # A half-built topology must not outlive a failed start.
        try:
            steps()
        except BaseException:
            self.stop(grace=1.0)
            raise

    def __enter__(self: _G) -> _G:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def _launch_all(processes: Sequence[RedisProcess]) -> None:
    """Start servers in parallel: launch every one, then wait for each."""
    for process in processes:
        process._launch()
    for process in processes:
        process.wait_ready()


class SentinelGroup(_Group):
    """A primary, a replica and three sentinels (quorum 2), all on loopback.

    ``url`` is ``redis+sentinel://127.0.0.1:p1,127.0.0.1:p2,127.0.0.1:p3/<service_name>``.
    """

    def __init__(
        self,
        binary: RedisBinary | None = None,
        *,
        service_name: str = "mymaster",
        password: str | None = None,
        sentinels: int = 3,
        quorum: int = 2,
        down_after_ms: int = 1000,
        failover_timeout_ms: int = 3000,
        startup_timeout: float = 30.0,
    ) -> None:
        self.binary = binary or default_redis_server()
        self.service_name = service_name
        self.password = password
        self.startup_timeout = startup_timeout
        self.primary = RedisProcess(self.binary, password=password)
        self.replica = RedisProcess(self.binary, password=password)
        self.sentinel_processes = [
            SentinelProcess(
                self.binary,
                service_name=service_name,
                primary=(LOOPBACK, 0),  # known once the primary has its port
                quorum=quorum,
                primary_password=password,
                down_after_ms=down_after_ms,
                failover_timeout_ms=failover_timeout_ms,
            )
            for _ in range(sentinels)
        ]

    @property
    def sentinels(self) -> list[tuple[str, int]]:
        return [s.address for s in self.sentinel_processes]

    @property
    def url(self) -> str:
        hosts = ",".join(f"{h}:{p}" for h, p in self.sentinels)
        return f"redis+sentinel://{userinfo(self.password)}{hosts}/{self.service_name}"

    def __repr__(self) -> str:
        return f"<SentinelGroup {self.binary.label} {self.service_name} sentinels={self.sentinels}>"

    def _processes(self) -> list[RedisProcess]:
        return [*self.sentinel_processes, self.primary, self.replica]

    def start(self) -> SentinelGroup:
        self._start_guarded(self._build)
        return self

    def _build(self) -> None:
        self.primary.start()
        self.replica.replica_of = self.primary.address
        self.replica.start()
        # Sentinels learn replicas from the primary's INFO (every 10 s), so the
        # replica must be attached before the first INFO to be seen at once.
        wait_until(self._replica_linked, self.startup_timeout, "the replica to sync")
        for sentinel in self.sentinel_processes:
            sentinel.primary = self.primary.address
        _launch_all(self.sentinel_processes)
        wait_until(self._sentinels_agree, self.startup_timeout, "sentinels to see the replica and each other")

    def _replica_linked(self) -> bool:
        with self.replica.client() as client:
            return bool(client.info("replication").get("master_link_status") == "up")

    def _sentinels_agree(self) -> bool:
        peers = len(self.sentinel_processes) - 1
        for sentinel in self.sentinel_processes:
            with sentinel.client() as client:
                state = client.sentinel_master(self.service_name)
            if state["num-slaves"] < 1 or state["num-other-sentinels"] < peers:
                return False
        return True

    def sentinel(self, **kwargs: Any) -> Sentinel:
        """A redis-py ``Sentinel`` on this group; kwargs go to master/replica connections."""
        kwargs.setdefault("socket_timeout", 5)
        kwargs.setdefault("socket_connect_timeout", 5)
        if self.password is not None:
            kwargs.setdefault("password", self.password)
        return Sentinel(self.sentinels, sentinel_kwargs={"socket_timeout": 2}, **kwargs)

    def client(self, **kwargs: Any) -> redis.Redis:
        """A client on the current primary that follows failovers (``master_for``)."""
        return self.sentinel(**kwargs).master_for(self.service_name)

    def current_primary(self) -> RedisProcess | None:
        """The process the first reachable sentinel names as primary."""
        for sentinel in self.sentinel_processes:
            if not sentinel.alive or sentinel.paused:
                continue
            try:
                with sentinel.client(socket_timeout=2) as client:
                    host, port = client.sentinel_get_master_addr_by_name(self.service_name)
            except (redis.RedisError, TypeError):
                continue
            return next((p for p in (self.primary, self.replica) if p.port == int(port)), None)
        return None

    def wait_for_failover(self, old: RedisProcess, timeout: float = 30.0) -> RedisProcess:
        """Wait until the sentinels name a new primary that accepts writes; return it."""

        def promoted() -> RedisProcess | None:
            new = self.current_primary()
            if new is None or new is old:
                return None
            with new.client(socket_timeout=2) as client:
                return new if client.info("replication").get("role") == "master" else None

        return wait_until(promoted, timeout, "a sentinel failover", interval=0.2)


class ClusterGroup(_Group):
    """Three primaries (optionally ``replicas`` per primary) with all 16384 slots.

    Built without redis-cli. ``url`` is ``redis+cluster://127.0.0.1:p1,127.0.0.1:p2,127.0.0.1:p3``
    (the primaries).
    """

    def __init__(
        self,
        binary: RedisBinary | None = None,
        *,
        primaries: int = 3,
        replicas: int = 0,
        password: str | None = None,
        node_timeout_ms: int = 2000,
        startup_timeout: float = 30.0,
    ) -> None:
        self.binary = binary or default_redis_server()
        self.password = password
        self.startup_timeout = startup_timeout
        self.nodes = [
            RedisProcess(self.binary, cluster=True, password=password, cluster_node_timeout_ms=node_timeout_ms)
            for _ in range(primaries * (1 + replicas))
        ]
        self.primaries = self.nodes[:primaries]
        self.replicas = self.nodes[primaries:]

    @property
    def startup_nodes(self) -> list[tuple[str, int]]:
        return [p.address for p in self.primaries]

    @property
    def url(self) -> str:
        hosts = ",".join(f"{h}:{p}" for h, p in self.startup_nodes)
        return f"redis+cluster://{userinfo(self.password)}{hosts}"

    def __repr__(self) -> str:
        return f"<ClusterGroup {self.binary.label} nodes={[n.port for n in self.nodes]}>"

    def _processes(self) -> list[RedisProcess]:
        return list(self.nodes)

    def client(self, **kwargs: Any) -> RedisCluster:
        """A redis-py ``RedisCluster`` on this cluster (the caller closes it)."""
        kwargs.setdefault("socket_timeout", 5)
        kwargs.setdefault("socket_connect_timeout", 5)
        if self.password is not None:
            kwargs.setdefault("password", self.password)
        nodes = [ClusterNode(h, p) for h, p in self.startup_nodes]
        return RedisCluster(startup_nodes=nodes, **kwargs)

    def start(self) -> ClusterGroup:
        self._start_guarded(self._build)
        return self

    def _build(self) -> None:
        _launch_all(self.nodes)
        for epoch, node in enumerate(self.nodes, start=1):
            # Distinct config epochs up front, as redis-cli does, so no collision
            # has to be resolved after the MEETs.
            self._call(node, "CLUSTER SET-CONFIG-EPOCH", epoch)
        for index, node in enumerate(self.primaries):
            self._assign_slots(node, *self._slot_range(index))
        for node in self.nodes[1:]:
            self._call(self.nodes[0], "CLUSTER MEET", LOOPBACK, node.port)
        wait_until(self._all_known, self.startup_timeout, "cluster nodes to meet")
        self._attach_replicas()
        wait_until(self._consistent, self.startup_timeout, "cluster_state:ok and one slot map on every node")

    def _call(self, node: RedisProcess, *args: Any) -> Any:
        with node.client() as client:
            return client.execute_command(*args)

    def _slot_range(self, index: int) -> tuple[int, int]:
        count = len(self.primaries)
        return index * CLUSTER_SLOTS // count, (index + 1) * CLUSTER_SLOTS // count - 1

    def _assign_slots(self, node: RedisProcess, first: int, last: int) -> None:
        if self.binary.at_least(7, 0):
            self._call(node, "CLUSTER ADDSLOTSRANGE", first, last)
            return
        for start in range(first, last + 1, 2000):  # 6.2 has only ADDSLOTS: keep commands small
            self._call(node, "CLUSTER ADDSLOTS", *range(start, min(start + 2000, last + 1)))

    def _attach_replicas(self) -> None:
        for index, replica in enumerate(self.replicas):
            primary = self.primaries[index % len(self.primaries)]
            primary_id = self._call(primary, "CLUSTER MYID")
            primary_id = primary_id.decode() if isinstance(primary_id, bytes) else primary_id
            self._call(replica, "CLUSTER REPLICATE", primary_id)

    def _view(self, node: RedisProcess) -> dict[str, tuple[str, str, str]] | None:
        """One node's view of the cluster: {node_id: (address, role, slots)}; None while unsettled."""
        with node.client() as client:
            raw = client.execute_command("CLUSTER NODES")
        view: dict[str, tuple[str, str, str]] = {}
        for address, entry in raw.items():
            flags = set(entry["flags"].split(","))
            if flags & {"handshake", "noaddr", "fail", "fail?"} or not entry["connected"] and "myself" not in flags:
                return None
            role = "primary" if "master" in flags else f"replica-of-{entry['master_id']}"
            slots = " ".join("-".join(s) for s in entry["slots"])
            view[entry["node_id"]] = (address.split("@")[0], role, slots)
        return view

    def _all_known(self) -> bool:
        return all((view := self._view(n)) is not None and len(view) == len(self.nodes) for n in self.nodes)

    def _consistent(self) -> bool:
        views = [self._view(node) for node in self.nodes]
        first = views[0]
        if first is None or len(first) != len(self.nodes) or any(v != first for v in views):
            return False
        if sum(role != "primary" for _, role, _ in first.values()) != len(self.replicas):
            return False  # a CLUSTER REPLICATE not yet seen everywhere
        return all(self._call(n, "CLUSTER INFO")["cluster_state"] == "ok" for n in self.nodes)
