"""What the agent sweeps away, every `--gc-interval`: finished tasks' directories (past
`--sandbox-max-age`, then oldest first beyond `--sandbox-max-total`) and images no task runs
from (past `--image-max-age` since their last launch, then beyond `--image-max-total`)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
from collections.abc import Callable

from daybreak.agent.containers import BUNDLE_DIR
from daybreak.agent.gc import to_remove
from daybreak.agent.images import ImageStore
from daybreak.agent.rootfs import MERGED, unmount
from daybreak.agent.settings import AgentConfig
from daybreak.agent.tracked import Tracked, finished_sandboxes

log = logging.getLogger("daybreak.agent")


class Sweeper:
    def __init__(
        self,
        config: AgentConfig,
        tasks: dict[str, Tracked],
        images: ImageStore,
        clock: Callable[[], int],
    ) -> None:
        self.config, self.tasks, self.images, self.clock = config, tasks, images, clock

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self.config.gc_interval_s)
            await self.sandboxes()
            await self.unused_images()

    async def sandboxes(self) -> list[str]:
        """Remove closed tasks' directories (and forget the tasks); their ids."""
        closed = {task_id: t for task_id, t in self.tasks.items() if t.closed}
        finished = await asyncio.to_thread(finished_sandboxes, closed)
        config = self.config
        removed = to_remove(finished, self.clock(), round(config.sandbox_max_age_s * 1000),
                            config.sandbox_max_total_mb * 1024**2)  # fmt: skip
        for task_id in removed:
            tracked = self.tasks.pop(task_id)
            tracked.release()
            root = tracked.supervisor.paths.root
            # A container's root left mounted (an agent stopped between mounting it and
            # starting the container) would be walked into: the image is not the task's.
            with contextlib.suppress(OSError):
                unmount(root / BUNDLE_DIR / MERGED)
            await asyncio.to_thread(shutil.rmtree, root, True)
            log.info("task=%s event=sandbox_removed", task_id)
        return removed

    async def unused_images(self) -> list[str]:
        """Remove images no task here runs from; their digests."""
        in_use = {container.digest for t in self.tasks.values()
                  if not t.closed and (container := t.supervisor.launch.container)}  # fmt: skip
        config = self.config
        removed = await asyncio.to_thread(
            self.images.collect, in_use, self.clock(),
            round(config.image_max_age_s * 1000), config.image_max_total_mb * 1024**2,
        )  # fmt: skip
        for digest in removed:
            log.info("event=image_removed digest=%s", digest)
        return removed
