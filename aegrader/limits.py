"""The limits each submission runs under."""

from dataclasses import asdict, dataclass

__all__ = ["GradingLimits"]


@dataclass(frozen=True)
class GradingLimits:
    """Limits for each submission, enforced by the kernel through the job's cgroup."""

    timeout: float = 300.0  # CPU seconds for the whole submission (all its processes)
    cell_timeout: float = 120.0  # CPU seconds before a cell (or a call by a test) is interrupted
    memory_mb: float = 4000.0  # memory of all its processes together, tmpfs files included
    max_output_bytes: int = 1_000_000  # outputs of every kind (text, images, HTML) kept per submission
    max_processes: int = 256  # a kernel needs about 40 threads; a fork bomb needs more
    scratch_mb: int = 512  # size of each tmpfs: the home folder, /tmp and /dev/shm
    # Wall-clock backstop for code that sleeps instead of computing. CPU time is what a
    # busy machine cannot inflate; under full load (2 jobs and 2 other busy processes on
    # 2 cores) a job gets half a core, so wall time is about twice its CPU time: 3x leaves room.
    wall_factor: float = 3.0

    @property
    def wall_timeout(self):
        return self.wall_factor * self.timeout

    @property
    def cell_wall_timeout(self):
        return self.wall_factor * self.cell_timeout

    def as_dict(self):
        return asdict(self) | {"cell_wall_timeout": self.cell_wall_timeout, "wall_timeout": self.wall_timeout}
