"""A miniwdl container backend that runs each task's command with bash on the host, in the task directory, with
no container: enough to run our WDL on test-data offline (no Docker here). Registered through the
`miniwdl.plugin.container_backend` entry point of the dist-info beside it (put this folder on PYTHONPATH) and
chosen with MINIWDL__SCHEDULER__CONTAINER_BACKEND=bash. Runtime docker/GPU keys are ignored."""
import os
import subprocess

from WDL.runtime.task_container import TaskContainer


class BashContainer(TaskContainer):
    @classmethod
    def global_init(cls, cfg, logger):
        pass

    @classmethod
    def detect_resource_limits(cls, cfg, logger):
        return {"cpu": os.cpu_count() or 1, "mem_bytes": os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")}

    def __init__(self, cfg, run_id, host_dir):
        super().__init__(cfg, run_id, host_dir)
        # Commands see the host paths: the "container" directory is the task directory itself.
        self.container_dir = host_dir

    def _link_inputs(self):
        """Inputs appear at their "container" paths as symlinks (miniwdl copies them only when configured to)."""
        for host_path, container_path in self.input_path_map.items():
            link = container_path.rstrip("/")
            if not os.path.lexists(link):  # a retry reuses the first attempt's links
                os.makedirs(os.path.dirname(link), exist_ok=True)
                os.symlink(os.path.abspath(host_path.rstrip("/")), link)

    def _run(self, logger, terminating, command):
        self._link_inputs()
        script = os.path.join(self.host_dir, "command")
        with open(script, "w") as f:
            f.write(command)
        with self.task_running_context(), self.poll_stderr_context(logger) as poll_stderr, \
                open(self.host_stdout_txt(), "wb") as out, open(self.host_stderr_txt(), "wb") as err:
            proc = subprocess.Popen(["bash", script], cwd=self.host_work_dir(), stdout=out, stderr=err)
            while True:
                try:
                    return proc.wait(timeout=0.5)
                except subprocess.TimeoutExpired:
                    poll_stderr()
                    if terminating():
                        proc.terminate()
                finally:
                    poll_stderr()
