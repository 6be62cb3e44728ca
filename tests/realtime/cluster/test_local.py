"""LocalCluster: one process's connection counts, in memory."""

from tickwire.realtime.cluster import LocalCluster


async def test_local_cluster_counts_per_process():
    cluster = LocalCluster()
    assert await cluster.acquire_user_slot(7, 2) and await cluster.acquire_user_slot(7, 2)
    assert not await cluster.acquire_user_slot(7, 2)
    await cluster.release_user_slot(7)
    assert await cluster.user_connections(7) == 1
    assert await cluster.acquire_user_slot(7, 2)
