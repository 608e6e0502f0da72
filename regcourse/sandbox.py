"""Autograde untrusted notebooks in a bubblewrap sandbox, and score a test cell only on evidence.

nbgrader runs every submission's code with the instructor's permissions, in the instructor's environment, and
scores a test cell by the absence of an error in its outputs. This module changes both (it is switched on by
``nbgrader_config.py``; book/instructor_guide.md says what it guarantees and what it does not):

* :class:`SandboxedExecute` replaces nbgrader's ``Execute`` preprocessor. The notebook is executed by a small
  runner (this file, run as a script) inside ``bwrap``: a read-only system, venv, Python and helper package;
  no course directory, no ``solutions/``, no ``gradebook.db``, no other student, no instructor HOME or
  environment; no network (the kernel is reached over IPC sockets); a private /tmp and HOME; an unprivileged
  uid; limits on memory and processes (cgroup v1 when run as root), CPU time, file size and output size; a
  wall-clock limit per submission; every process dies with the sandbox (own PID namespace). The notebook goes
  in through a pipe and the outputs come back through a pipe; nbgrader (trusted) writes grades and feedback.
* **Fail closed.** Before the run, every autograded test cell gets one last line that prints a random per-run,
  per-cell token. Back in the trusted process a test cell earns its points only if its outputs contain that
  token (the line after the checks ran without an error), no error, and no ``execute_result`` (partial credit
  is never taken from the kernel). A test that was blanked, wrapped, interrupted or never run prints no token
  and scores 0, with a message saying why. Non-error stderr (warnings, tqdm bars) of a passed test is shown as
  ordinary output, so it never zeroes a test.
* **Review flags.** Student cells are scanned (AST) for what can tamper with tests in the same kernel: IPython
  hooks and input transformers, tracers, import hooks, torch function/dispatch modes, ``builtins``, ``exec``,
  assignments to attributes of imported modules, and the like. A flagged submission scores 0 on every
  autograded test until the instructor has looked at it; nbgrader logs one line per student starting with
  ``REVIEW``.

``REGCOURSE_SANDBOX=off`` restores nbgrader's own ``Execute`` (no sandbox, no evidence, no scan). It exists
only to show, in tests/test_grading_attacks.py, what each protection buys; never grade with it.
"""
from __future__ import annotations

import ast
import json
import os
import re
import struct
import sys
import time

FRAME = struct.Struct(">Q")            # length prefix of one JSON frame on the runner's result pipe
TOKEN_PREFIX = "regcourse-evidence:"


# ==================================================================================== the runner (untrusted)
# Runs inside the sandbox as `python -I sandbox.py --runner`. It imports nothing from the course.

def _runner_main() -> int:
    import asyncio  # noqa: F401  (nbclient needs it; imported early so the kernel start is not slowed)
    import ctypes

    # Not dumpable: the student's kernel (same uid) cannot ptrace this process or read /proc/<pid>/mem|fd.
    try:
        ctypes.CDLL(None).prctl(4, 0, 0, 0, 0)   # PR_SET_DUMPABLE = 4
    except Exception:
        pass
    job = json.loads(sys.stdin.buffer.read())
    # The kernel inherits fds 0-2: give it /dev/null, keep the result pipe to ourselves (non-inheritable).
    out = os.fdopen(os.dup(1), "wb", buffering=0)
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 0)
    os.dup2(devnull, 1)

    # jsonschema's optional URI-format checker (rfc3987_syntax) takes ~1.5 s of CPU to import, for a notebook
    # validation the runner never does: it is the bulk of the sandbox's cost per submission. Leave it out.
    sys.modules.setdefault("rfc3987_syntax", None)
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.from_dict(job["notebook"])

    def send(obj):
        data = json.dumps(obj).encode()
        out.write(FRAME.pack(len(data)) + data)

    started = {}

    def on_executed(cell, cell_index, execute_reply, **_):
        content = (execute_reply or {}).get("content", {})
        outputs = list(cell.get("outputs", []))
        if time.monotonic() - started.get(cell_index, time.monotonic()) >= job["timeout"]:
            outputs.append({"output_type": "error", "ename": "CellTimeoutError", "traceback": [
                f"CellTimeoutError: this cell ran longer than {job['timeout']} s and was stopped"],
                "evalue": f"this cell ran longer than {job['timeout']} s and was stopped"})
        if content.get("status") == "error" and not any(o.get("output_type") == "error" for o in outputs):
            outputs.append({"output_type": "error", "ename": content.get("ename", "Error"),   # e.g. a timeout
                            "evalue": content.get("evalue", ""), "traceback": content.get("traceback") or []})
        send({"index": cell_index, "outputs": outputs, "status": content.get("status")})

    def on_start(cell, cell_index, **_):
        started[cell_index] = time.monotonic()
        send({"start": cell_index})

    from traitlets.config import Config
    config = Config()
    config.KernelManager.transport = "ipc"   # sockets in the private work folder: no TCP (no network anyway)
    client = NotebookClient(
        nb, config=config, timeout=job["timeout"], interrupt_on_timeout=True, allow_errors=True, kernel_name="python3",
        extra_arguments=["--HistoryManager.hist_file=:memory:"], record_timing=False,
        raise_on_iopub_timeout=False, startup_timeout=120,
        error_on_timeout={"ename": "CellTimeoutError", "evalue": "",
                          "traceback": [f"CellTimeoutError: this cell ran longer than {job['timeout']} s"]},
        resources={"metadata": {"path": os.getcwd()}}, on_cell_executed=on_executed, on_cell_start=on_start)
    try:
        client.execute()
    except Exception as err:   # a dead kernel, a timeout while starting: the trusted side reports it
        send({"fatal": f"{type(err).__name__}: {err}"[:2000]})
    send({"done": True})
    return 0


# ================================================================================== static review (trusted)

# Names and attributes that let code in the kernel observe or rewrite the test cells, the grading helpers or
# the comparison machinery. A solution of these exercises needs none of them.
_SUSPECT_ATTRS = {
    "input_transformers_cleanup", "input_transformers_post", "input_transformer_manager", "ast_transformers",
    "set_custom_exc", "custom_exceptions", "register_magic_function", "run_cell", "showtraceback",
    "settrace", "setprofile", "gettrace", "_getframe", "f_locals", "f_globals", "f_back", "f_code", "f_trace",
    "meta_path", "path_hooks", "path_importer_cache", "_bootstrap", "_bootstrap_external",
    "__import__", "__builtins__", "__code__", "__globals__", "__closure__", "__class__", "__dict__",
    "__torch_function__", "__torch_dispatch__", "TorchFunctionMode", "TorchDispatchMode",
    "_push_mode", "_set_torch_function_mode", "overrides", "displayhook", "excepthook", "reload",
    "exec_module", "_exec", "user_ns", "DisableTorchFunction", "PyFrame_LocalsToFast", "pythonapi",
    "__subclasses__", "__base__", "__bases__", "__mro__", "__getattribute__", "__setattr__", "__delattr__",
    "__self__", "__func__", "__wrapped__", "__loader__", "__spec__", "gi_frame", "tb_frame", "cr_frame",
    "__traceback__", "get_objects", "get_referrers",
}
_SUSPECT_NAMES = {
    "get_ipython", "exec", "eval", "compile", "__import__", "globals", "vars", "locals", "setattr",
    "delattr", "getattr", "__builtins__", "breakpoint", "builtins", "ctypes", "gc", "inspect", "importlib",
    "sys", "subprocess", "signal", "atexit", "threading", "multiprocessing", "_thread", "os", "shutil",
    "TorchFunctionMode", "TorchDispatchMode", "pickle", "marshal", "socket", "regcourse", "sqlite3", "glob",
    "pathlib", "Path", "open",
}
# Modules a solution may import and use freely (their attributes may still not be assigned to).
_OK_IMPORTS = {"torch", "numpy", "math", "matplotlib", "random", "collections", "itertools", "functools",
               "dataclasses", "typing", "warnings", "tqdm", "statistics", "copy", "time"}
# Names that hold modules in the exercise notebooks (their setup cells import them).
_MODULE_NAMES = {"torch", "np", "numpy", "nn", "F", "plt", "matplotlib", "G", "regcourse", "math", "sys", "os",
                 "builtins", "importlib", "IPython", "tqdm", "random", "warnings", "functools", "types"}
_MAGIC_OK = re.compile(r"^\s*%(matplotlib|time|timeit|precision)\b")


def _python_source(src: str) -> tuple[str, list]:
    """IPython syntax turned into Python, and the findings about shell/magic lines."""
    findings = []
    for line in src.splitlines():
        s = line.strip()
        if (s.startswith(("%", "!")) or re.match(r"^\w+\s*=\s*[!%]", s)) and not _MAGIC_OK.match(s):
            findings.append(f"IPython magic or shell command `{s[:60]}`")
    try:
        from IPython.core.inputtransformer2 import TransformerManager
        src = TransformerManager().transform_cell(src)
    except Exception:
        pass
    return src, findings


def scan_source(src: str) -> list:
    """Why this student cell needs a human look (empty list: nothing suspicious)."""
    src, findings = _python_source(src)
    try:
        tree = ast.parse(src)
    except SyntaxError:
        return findings       # it fails when run, and a SyntaxError executes nothing
    imported = set(_MODULE_NAMES)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                imported.add((a.asname or a.name).split(".")[0])
                if a.name.split(".")[0] not in _OK_IMPORTS:
                    findings.append(f"imports `{a.name}`")
        elif isinstance(node, ast.ImportFrom):
            if (node.module or "").split(".")[0] not in _OK_IMPORTS or node.level:
                findings.append(f"imports from `{node.module}`")
            for a in node.names:
                imported.add(a.asname or a.name)
                if a.name in _SUSPECT_ATTRS or a.name in _SUSPECT_NAMES or a.name == "*":
                    findings.append(f"imports `{a.name}` from `{node.module}`")
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr in _SUSPECT_ATTRS:
            findings.append(f"uses `.{node.attr}`")
        elif isinstance(node, ast.Name) and node.id in _SUSPECT_NAMES:
            findings.append(f"uses `{node.id}`")
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            for word in _SUSPECT_ATTRS | {"get_ipython", "__import__", "settrace", "TorchFunctionMode"}:
                if len(word) > 5 and word in node.value:
                    findings.append(f"names `{word}` in a string")
        elif isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign, ast.Delete)):
            targets = node.targets if isinstance(node, (ast.Assign, ast.Delete)) else [node.target]
            for t in targets:
                for sub in ast.walk(t):
                    if isinstance(sub, (ast.Attribute, ast.Subscript)):
                        root = sub
                        while isinstance(root, (ast.Attribute, ast.Subscript)):
                            root = root.value
                        if isinstance(root, ast.Name) and root.id in imported \
                                and "rcParams" not in ast.unparse(sub):   # plt.rcParams[...] = ...: a setting
                            findings.append(f"assigns to `{ast.unparse(sub)[:60]}` (an attribute of an imported "
                                            "module)")
                            break
        elif isinstance(node, (ast.Global, ast.Nonlocal)) and any(n in _SUSPECT_NAMES for n in node.names):
            findings.append("rebinds a builtin")
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and node.name in {"print", "__import__"}:
            findings.append(f"defines `{node.name}`")
    out = []
    for f in findings:
        if f not in out:
            out.append(f)
    return out


# ============================================================================== the trusted preprocessors

def _is_test_cell(cell) -> bool:
    meta = cell.get("metadata", {}).get("nbgrader", {})
    return cell.get("cell_type") == "code" and bool(meta.get("grade")) and not meta.get("solution")


SANDBOX_WORKDIR = "/submission"   # where the private copy of the notebook runs, inside the sandbox


def _bwrap_binds(paths_ro, workdir):
    """bwrap arguments: each read-only path at its own location, parents created traversable (0755), and the
    private work folder at /submission."""
    args, made = [], {"/", "/tmp"}
    for p in list(paths_ro):
        parts = p.rstrip("/").split("/")
        for i in range(2, len(parts)):
            parent = "/".join(parts[:i])
            if parent not in made and not parent.startswith(("/usr", "/etc")):
                args += ["--perms", "0755", "--dir", parent]
                made.add(parent)
    for p in paths_ro:
        args += ["--ro-bind", p, p]
    args += ["--bind", workdir, SANDBOX_WORKDIR]
    return args


def _make_cgroups(name, memory_bytes, max_pids):
    """cgroup v1 memory + pids groups for one submission (root only); [] when not available."""
    made = []
    for controller, files in (("memory", {"memory.limit_in_bytes": memory_bytes,
                                          "memory.memsw.limit_in_bytes": memory_bytes}),
                              ("pids", {"pids.max": max_pids})):
        base = f"/sys/fs/cgroup/{controller}"
        if not os.path.isdir(base) or not os.access(base, os.W_OK):
            continue
        path = os.path.join(base, name)
        try:
            os.mkdir(path)
        except OSError:
            continue
        made.append(path)
        for fname, value in files.items():
            try:
                with open(os.path.join(path, fname), "w") as f:
                    f.write(str(value))
            except OSError:
                pass
    return made


def _remove_cgroups(paths):
    for path in paths:
        for _ in range(50):
            try:
                os.rmdir(path)
                break
            except OSError:
                time.sleep(0.1)


def _limit_outputs(outputs, max_chars, max_outputs, max_image_chars=2_000_000):
    """Outputs of one cell as nbformat dicts, each text cut to max_chars; larger images are left out."""
    clean = []
    for o in outputs[:max_outputs]:
        if not isinstance(o, dict) or o.get("output_type") not in ("stream", "error", "execute_result",
                                                                     "display_data"):
            continue
        o = dict(o)
        if o["output_type"] == "stream":
            text = o.get("text", "")
            text = "".join(text) if isinstance(text, list) else str(text)
            if len(text) > max_chars:
                text = text[:max_chars] + f"\n... [output cut: {len(text) - max_chars} more characters]\n"
            clean.append({"output_type": "stream", "name": "stderr" if o.get("name") == "stderr" else "stdout",
                          "text": text})
        elif o["output_type"] == "error":
            tb = [str(x)[:max_chars] for x in (o.get("traceback") or [])][:200]
            clean.append({"output_type": "error", "ename": str(o.get("ename", ""))[:200],
                          "evalue": str(o.get("evalue", ""))[:max_chars], "traceback": tb})
        else:
            data = {}
            for mime, value in (o.get("data") or {}).items():
                value = "".join(value) if isinstance(value, list) else str(value)
                limit = max_image_chars if mime.startswith("image/") else max_chars
                if len(value) <= limit and isinstance(mime, str) and len(mime) < 100:
                    data[mime] = value
                elif isinstance(mime, str):
                    data["text/plain"] = f"[{mime[:40]} output left out: {len(value)} characters, over the limit]"
            item = {"output_type": o["output_type"], "data": data, "metadata": {}}
            if o["output_type"] == "execute_result":
                item["execution_count"] = None
            clean.append(item)
    if len(outputs) > max_outputs:
        clean.append({"output_type": "stream", "name": "stdout",
                      "text": f"... [{len(outputs) - max_outputs} more outputs cut]\n"})
    return clean


def _seed_matplotlib_cache(dest):
    """Copy the grader's matplotlib font list into the sandbox's config folder: without it, matplotlib rebuilds
    it (running fc-list over every font) in each submission's empty HOME."""
    import glob
    import shutil
    os.makedirs(dest, exist_ok=True)
    os.chmod(dest, 0o777)
    home = os.path.expanduser("~")
    for folder in (os.environ.get("MPLCONFIGDIR"), os.path.join(os.environ.get("XDG_CACHE_HOME") or
                                                                os.path.join(home, ".cache"), "matplotlib")):
        if folder and os.path.isdir(folder):
            for f in glob.glob(os.path.join(folder, "fontlist-v*.json"))[:3]:
                if os.path.isfile(f) and not os.path.islink(f) and os.path.getsize(f) < 5 * 2 ** 20:
                    shutil.copy(f, dest)
                    os.chmod(os.path.join(dest, os.path.basename(f)), 0o666)
            return


def _sandbox_enabled() -> bool:
    return os.environ.get("REGCOURSE_SANDBOX", "on").lower() not in ("off", "0", "no", "false")


def _make_classes():
    """The nbgrader preprocessors (defined lazily: the runner above must not import nbgrader)."""
    import copy
    import secrets
    import shutil
    import signal
    import subprocess
    import tempfile
    import threading

    import nbformat
    from nbgrader.preprocessors import Execute, NbGraderPreprocessor
    from traitlets import Bool, Integer, List, Unicode

    class SandboxedExecute(Execute):
        """nbgrader's Execute, run in a bwrap sandbox, with evidence-based scoring of test cells."""

        wall_timeout = Integer(900, help="Seconds one submission may run in all (kernel start included)."
                               ).tag(config=True)
        memory_mb = Integer(4096, help="Memory of one submission's sandbox (cgroup, or RLIMIT_AS).").tag(config=True)
        max_processes = Integer(256, help="Processes and threads of the sandbox user.").tag(config=True)
        max_file_mb = Integer(256, help="Largest file the sandbox may write (RLIMIT_FSIZE).").tag(config=True)
        max_output_chars = Integer(20000, help="Characters kept of one text output (stream, error, HTML...)."
                                   ).tag(config=True)
        max_image_chars = Integer(2_000_000, help="Characters kept of one image (base64): plots are graded by hand."
                                  ).tag(config=True)
        max_outputs_per_cell = Integer(100).tag(config=True)
        max_result_mb = Integer(64, help="Bytes of outputs read back from one submission.").tag(config=True)
        extra_ro_paths = List(Unicode(), help="More read-only paths to show inside the sandbox (data sets)."
                              ).tag(config=True)
        sandbox_uid = Integer(65534, help="Unprivileged uid the sandbox runs as when nbgrader runs as root."
                              ).tag(config=True)
        review_zeroes = Bool(True, help="A submission flagged for review scores 0 until a human looks."
                             ).tag(config=True)

        # ------------------------------------------------------------------------------------------------
        def preprocess(self, nb, resources):
            if not _sandbox_enabled():
                self.log.warning("REGCOURSE_SANDBOX=off: executing UNSANDBOXED with nbgrader's Execute")
                return super().preprocess(nb, resources)
            who = self._who(resources)
            trusted = copy.deepcopy(nb)
            tokens = {}
            for i, cell in enumerate(nb.cells):
                if cell.cell_type == "code":
                    cell.outputs = []
                if _is_test_cell(cell):
                    tokens[i] = TOKEN_PREFIX + secrets.token_hex(16)
                    cell.source = cell.source.rstrip() + f"\nprint({tokens[i]!r})\n"
            findings = self._review(trusted, resources)
            results, problem = self._run(nb, resources)
            for i, cell in enumerate(trusted.cells):
                if cell.cell_type != "code":
                    continue
                cell.outputs = [nbformat.from_dict(o) for o in results.get(i, {}).get("outputs", [])]
                if i in tokens:
                    self._judge(cell, tokens[i], i in results, results.get(i, {}).get("status"), problem,
                                findings)
            if findings:
                self.log.warning("REVIEW %s: scored 0 pending manual review: %s", who,
                                 "; ".join(findings)[:1500])
            if problem:
                self.log.error("Submission %s: %s", who, problem)
            nb.cells = trusted.cells
            return nb, resources

        @staticmethod
        def _who(resources):
            g = resources.get("nbgrader", {})
            return f"student '{g.get('student', '?')}', assignment '{g.get('assignment', '?')}', " \
                   f"notebook '{g.get('notebook', '?')}'"

        def _review(self, nb, resources):
            """Findings of the static scan of the student's own cells (test and locked cells are the source's)."""
            findings = []
            for i, cell in enumerate(nb.cells):
                meta = cell.metadata.get("nbgrader", {})
                # Locked and test cells that carry a known grade_id were overwritten with the source's by
                # OverwriteCells (an unknown grade_id is deleted there): those are the instructor's code.
                trusted = meta.get("grade_id") and not meta.get("solution") and (meta.get("locked") or
                                                                                 meta.get("grade"))
                if cell.cell_type != "code" or trusted:
                    continue
                for f in scan_source(cell.source):
                    findings.append(f"cell {i} ({meta.get('grade_id', 'added by the student')}): {f}")
            return findings

        def _judge(self, cell, token, ran, status, problem, findings):
            """Turn the outputs of one test cell into a verdict nbgrader's determine_grade reads as intended."""
            outs = cell.outputs
            has_error = any(o.output_type == "error" for o in outs)
            evidence = token in "".join(o.text for o in outs if o.output_type == "stream" and o.name == "stdout")
            # The token line is ours: drop it; never let the kernel's execute_result decide a score.
            kept = []
            for o in outs:
                if o.output_type == "stream" and o.name == "stdout" and token in o.text:
                    o.text = o.text.replace(token + "\n", "").replace(token, "")
                if o.output_type == "stream" and not o.text.strip("\n"):
                    continue   # what is left of our line, or a bare newline (tqdm closing a bar)
                if o.output_type == "execute_result":
                    continue
                kept.append(o)
            passed = evidence and not has_error and status == "ok" and not (findings and self.review_zeroes)
            if passed:
                for o in kept:   # warnings and progress bars of a passing test are not errors
                    if o.output_type == "stream" and o.name == "stderr":
                        o.name = "stdout"
                cell.outputs = kept
                return
            kept = [o for o in kept if not (o.output_type == "stream" and o.name == "stderr"
                                            and not o.text.strip())]
            if findings and self.review_zeroes or not has_error:
                if findings and self.review_zeroes:
                    why = ("Your notebook was set aside for your instructor to look at, because a cell of yours "
                           "uses something that can change how tests run: " + findings[0] +
                           ". Tests are scored after that review.")
                elif not ran:
                    why = ("This test did not run: " + (problem or "the notebook stopped before this cell") +
                           ". Look at the first error above this cell.")
                else:
                    why = ("This test did not report that its checks finished (its last line did not run). "
                           "Something in your notebook stopped or changed the test cell; run your notebook "
                           "top to bottom after restarting the kernel and look at this cell's output.")
                kept.append(nbformat.from_dict({"output_type": "error", "ename": "TestNotCompleted",
                                                "evalue": why, "traceback": [f"TestNotCompleted: {why}"]}))
            cell.outputs = kept

        # ------------------------------------------------------------------------------------------------
        def _ro_paths(self):
            paths = [os.path.realpath(sys.prefix), os.path.realpath(sys.base_prefix),
                     os.path.dirname(os.path.realpath(__file__))]   # the venv, its Python, the helper package
            exe = os.path.realpath(sys.executable)
            if not any(exe.startswith(p + "/") for p in paths):
                paths.append(os.path.dirname(exe))
            for p in ["/usr/share/datasets"] + list(self.extra_ro_paths):
                if os.path.exists(p) and not p.startswith("/usr/"):
                    paths.append(p)
            out = []
            for p in paths:
                if p not in out and p not in ("/", "/usr") and not p.startswith("/usr/"):
                    out.append(p)
            return out

        def _command(self, workdir):
            python = os.path.join(sys.prefix, "bin", "python")
            runner = os.path.realpath(__file__)
            root = os.geteuid() == 0
            cmd = ["bwrap", "--die-with-parent", "--new-session", "--unshare-ipc", "--unshare-pid",
                   "--unshare-net", "--unshare-uts", "--unshare-cgroup-try", "--hostname", "sandbox"]
            if not root:
                cmd += ["--unshare-user", "--uid", str(self.sandbox_uid), "--gid", str(self.sandbox_uid)]
            cmd += ["--ro-bind", "/usr", "/usr"]
            for d in ("bin", "sbin", "lib", "lib64", "lib32", "libx32"):
                if os.path.islink(f"/{d}"):
                    cmd += ["--symlink", os.readlink(f"/{d}"), f"/{d}"]
                elif os.path.isdir(f"/{d}"):
                    cmd += ["--ro-bind", f"/{d}", f"/{d}"]
            # /etc: only what a Python process needs (no passwd hashes, no instructor config).
            cmd += ["--perms", "0755", "--dir", "/etc"]
            for f in ("ld.so.cache", "ld.so.conf", "ld.so.conf.d", "localtime", "hosts", "nsswitch.conf",
                      "passwd", "group", "fonts", "matplotlibrc", "ssl", "alternatives", "mime.types"):
                if os.path.exists(f"/etc/{f}"):
                    cmd += ["--ro-bind", f"/etc/{f}", f"/etc/{f}"]
            cmd += ["--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp", "--perms", "0777", "--dir", "/tmp/home"]
            if os.path.isdir("/var/cache/fontconfig"):   # without it every font lookup rescans the fonts
                cmd += ["--perms", "0755", "--dir", "/var", "--perms", "0755", "--dir", "/var/cache",
                        "--ro-bind", "/var/cache/fontconfig", "/var/cache/fontconfig"]
            cmd += _bwrap_binds(self._ro_paths(), workdir)
            cmd += ["--chdir", SANDBOX_WORKDIR, "--clearenv",
                    "--setenv", "HOME", "/tmp/home", "--setenv", "PATH", f"{sys.prefix}/bin:/usr/bin:/bin",
                    "--setenv", "LANG", "C.UTF-8",
                    "--setenv", "IPYTHONDIR", "/tmp/home/.ipython", "--setenv", "JUPYTER_RUNTIME_DIR", SANDBOX_WORKDIR,
                    "--setenv", "JUPYTER_PLATFORM_DIRS", "1", "--setenv", "PYTHONDONTWRITEBYTECODE", "1",
                    "--setenv", "MPLCONFIGDIR", SANDBOX_WORKDIR + "/.matplotlib"]
            # the helper package the grader uses (bound read-only above), whatever way it was installed
            cmd += ["--setenv", "PYTHONPATH", os.path.dirname(os.path.dirname(os.path.realpath(__file__)))]
            for var in ("REGCOURSE_SEED_OFFSET", "REGCOURSE_NO_PROGRESS", "OMP_NUM_THREADS", "REGCOURSE_DATA"):
                if var in os.environ:
                    cmd += ["--setenv", var, os.environ[var]]
            cmd += ["--", ]
            if root:
                uid = str(self.sandbox_uid)
                cmd += ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "--inh-caps=-all",
                        "--bounding-set=-all", "--no-new-privs"]
            cmd += [python, "-I", runner, "--runner"]
            return cmd

        def _preexec(self, cgroups):
            import resource
            mem = self.memory_mb * 2 ** 20
            cpu = max(60, 2 * self.wall_timeout)
            fsize = self.max_file_mb * 2 ** 20
            nproc = self.max_processes
            cg = list(cgroups)

            def fn():
                for path in cg:
                    try:
                        with open(os.path.join(path, "cgroup.procs"), "w") as f:
                            f.write(str(os.getpid()))
                    except OSError:
                        pass
                resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 5))
                resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))
                resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
                resource.setrlimit(resource.RLIMIT_NPROC, (nproc, nproc))
                resource.setrlimit(resource.RLIMIT_NOFILE, (1024, 1024))
                if not any("/memory/" in p for p in cg):   # no memory cgroup: cap the address space instead
                    resource.setrlimit(resource.RLIMIT_AS, (4 * mem, 4 * mem))
            return fn

        def _run(self, nb, resources):
            """{cell index: {"outputs", "status"}} from the sandbox, and a problem sentence (or None)."""
            if shutil.which("bwrap") is None:
                raise RuntimeError("bubblewrap (bwrap) is not installed: `apt-get install bubblewrap` "
                                   "(scripts/setup.sh does it). Refusing to run student code unsandboxed.")
            work = tempfile.mkdtemp(prefix="regcourse-sandbox-")
            os.chmod(work, 0o777)
            _seed_matplotlib_cache(os.path.join(work, ".matplotlib"))
            cgroups = _make_cgroups(os.path.basename(work), self.memory_mb * 2 ** 20, self.max_processes)
            job = json.dumps({"notebook": nb, "timeout": self.timeout}).encode()
            results, problem, started = {}, None, set()
            t0 = time.monotonic()
            try:
                proc = subprocess.Popen(self._command(work), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        stderr=subprocess.PIPE, preexec_fn=self._preexec(cgroups),
                                        start_new_session=True)
                limit = self.max_result_mb * 2 ** 20
                state = {"bytes": 0, "done": False, "fatal": None, "over": False}
                err_tail = []

                def read_frames():
                    r = proc.stdout
                    while True:
                        head = r.read(FRAME.size)
                        if len(head) < FRAME.size:
                            return
                        n = FRAME.unpack(head)[0]
                        state["bytes"] += n + FRAME.size
                        if state["bytes"] > limit:
                            state["over"] = True
                            proc.kill()
                            return
                        try:
                            msg = json.loads(r.read(n))
                        except ValueError:
                            return
                        if not isinstance(msg, dict):
                            continue
                        if "start" in msg and isinstance(msg["start"], int):
                            started.add(msg["start"])
                        elif isinstance(msg.get("index"), int) and isinstance(msg.get("outputs"), list):
                            results[msg["index"]] = {
                                "outputs": _limit_outputs(msg["outputs"], self.max_output_chars,
                                                          self.max_outputs_per_cell, self.max_image_chars),
                                "status": msg.get("status") if msg.get("status") in ("ok", "error") else None}
                        elif "fatal" in msg:
                            state["fatal"] = str(msg["fatal"])[:500]
                        elif msg.get("done"):
                            state["done"] = True

                def read_err():
                    data = proc.stderr.read(200000)
                    err_tail.append(data.decode(errors="replace"))
                    while proc.stderr.read(65536):
                        pass

                threads = [threading.Thread(target=read_frames, daemon=True),
                           threading.Thread(target=read_err, daemon=True)]
                for t in threads:
                    t.start()
                try:
                    proc.stdin.write(job)
                    proc.stdin.close()
                except OSError:
                    pass
                try:
                    proc.wait(timeout=self.wall_timeout)
                except subprocess.TimeoutExpired:
                    problem = (f"the notebook did not finish within {self.wall_timeout} s (the time limit for a "
                               "whole submission); cells that had not run score 0")
                    try:
                        os.killpg(proc.pid, signal.SIGKILL)
                    except OSError:
                        proc.kill()
                    proc.wait()
                for t in threads:
                    t.join(timeout=10)
                if problem is None:
                    if state["over"]:
                        problem = (f"the notebook printed more than {self.max_result_mb} MB of output; the run "
                                   "was stopped")
                    elif state["fatal"]:
                        problem = "the kernel stopped: " + state["fatal"]
                        if "DeadKernel" in state["fatal"]:
                            problem = "Kernel died (the Python process of the notebook exited or crashed; " \
                                      "look for os._exit, sys.exit, or using too much memory)"
                    elif not state["done"]:
                        problem = (f"the sandbox exited early (code {proc.returncode}): "
                                   + "".join(err_tail)[-500:].strip())
                self.log.debug("sandbox run took %.1f s", time.monotonic() - t0)
            finally:
                _remove_cgroups(cgroups)
                shutil.rmtree(work, ignore_errors=True)
            # a cell that started but sent no outputs (the run was cut inside it)
            for i in started - set(results):
                results[i] = {"outputs": [], "status": None}
            return results, problem

    class HideSecretsInFeedback(NbGraderPreprocessor):
        """generate_feedback: no hidden tests, no mark schemes, no traceback lines of test code."""

        def preprocess(self, nb, resources):
            if not _sandbox_enabled():   # nbgrader's own feedback, as before (demonstration only)
                return nb, resources
            for cell in nb.cells:
                if cell.cell_type == "markdown":
                    cell.source = _cut_region(cell.source, "BEGIN MARK SCHEME", "END MARK SCHEME",
                                              "*(The mark scheme is not shown.)*")
                if not _is_test_cell(cell):
                    continue
                cell.source = _cut_region(cell.source, "BEGIN HIDDEN TESTS", "END HIDDEN TESTS",
                                          "# (hidden tests: not shown)")
                for o in cell.get("outputs", []):
                    if o.output_type == "error":
                        o.traceback = [f"{o.ename}: {o.evalue}"]
            return nb, resources

    return SandboxedExecute, HideSecretsInFeedback


def _cut_region(source: str, begin: str, end: str, replacement: str) -> str:
    lines, out, inside = source.splitlines(), [], False
    for line in lines:
        if begin in line:
            inside = True
            out.append(replacement)
            continue
        if end in line and inside:
            inside = False
            continue
        if not inside:
            out.append(line)
    return "\n".join(out)


# ==================================================================================== the trusted parent

def check_submission_file(path: str, submitted_dir: str, max_mb: float = 20) -> None:
    """Refuse a notebook that is a symlink, not a regular file, outside its folder, or too large."""
    st = os.lstat(path)
    import stat
    if stat.S_ISLNK(st.st_mode):
        raise ValueError(f"{path} is a symbolic link, not a notebook: rejected (a link could make nbgrader read "
                         "or write another file). Ask the student to submit the .ipynb file itself.")
    if not stat.S_ISREG(st.st_mode):
        raise ValueError(f"{path} is not a regular file: rejected.")
    real = os.path.realpath(path)
    base = os.path.realpath(submitted_dir)
    if not real.startswith(base + os.sep):
        raise ValueError(f"{path} resolves to {real}, outside {base}: rejected (a linked folder).")
    if st.st_size > max_mb * 2 ** 20:
        raise ValueError(f"{path} is {st.st_size / 2 ** 20:.1f} MB, over the {max_mb} MB limit for a notebook: "
                         "rejected. Ask the student to clear the outputs and submit again.")


def backup_gradebook(db_path: str, keep: int = 20) -> str | None:
    """A consistent copy of gradebook.db in backups/ next to it (SQLite backup API); the newest `keep` stay."""
    import sqlite3
    if not os.path.exists(db_path):
        return None
    folder = os.path.join(os.path.dirname(db_path), "backups")
    os.makedirs(folder, exist_ok=True)
    dest = os.path.join(folder, time.strftime("gradebook-%Y%m%d-%H%M%S-") + f"{os.getpid()}.db")
    src = sqlite3.connect(db_path)
    dst = sqlite3.connect(dest)
    with dst:
        src.backup(dst)
    src.close()
    dst.close()
    old = sorted(f for f in os.listdir(folder) if f.startswith("gradebook-") and f.endswith(".db"))
    for f in old[:-keep]:
        os.remove(os.path.join(folder, f))
    return dest


def install(c) -> None:
    """Called from nbgrader_config.py: sandboxed execution, evidence-based scores, secret-free feedback, and
    a guarded Autograde (gradebook backup; symlinked/oversized notebooks rejected)."""
    from nbconvert.preprocessors import ClearMetadataPreprocessor, CSSHTMLHeaderPreprocessor
    from nbgrader.converters import autograde as _ag
    from nbgrader.preprocessors import (
        AssignLatePenalties,
        CheckCellMetadata,
        GetGrades,
        IgnorePattern,
        LimitOutput,
        SaveAutoGrades,
    )

    SandboxedExecute, HideSecretsInFeedback = _make_classes()
    c.Autograde.autograde_preprocessors = [SandboxedExecute, IgnorePattern, ClearMetadataPreprocessor,
                                           LimitOutput, SaveAutoGrades, AssignLatePenalties, CheckCellMetadata]
    c.GenerateFeedback.preprocessors = [GetGrades, HideSecretsInFeedback, CSSHTMLHeaderPreprocessor]

    Autograde = _ag.Autograde
    if getattr(Autograde, "_regcourse_guarded", False):
        return
    original_start = Autograde.start
    original_convert = Autograde.convert_single_notebook

    def start(self):
        dest = backup_gradebook(self.coursedir.db_url.replace("sqlite:///", "", 1)) \
            if self.coursedir.db_url.startswith("sqlite:///") else None
        if dest:
            self.log.info("Gradebook backed up to %s", dest)
        return original_start(self)

    def convert_single_notebook(self, notebook_filename):
        # called with the submitted file (it sanitizes, then autogrades its own copy)
        if _sandbox_enabled():
            submitted = os.path.join(self.coursedir.root, self.coursedir.submitted_directory)
            check_submission_file(notebook_filename, submitted)
        return original_convert(self, notebook_filename)

    Autograde.start = start
    Autograde.convert_single_notebook = convert_single_notebook
    Autograde._regcourse_guarded = True

    # nbgrader puts a deleted grade cell back after the previous *graded* cell of the source, and fails with a
    # KeyError when that previous cell is an ungraded one (a locked question above a written answer). Put it
    # after the nearest earlier source cell the submission still has, whatever its kind.
    from nbgrader.preprocessors import OverwriteCells

    def add_missing_grade_cells(self, nb, resources):
        source_nb = self.gradebook.find_notebook(self.notebook_id, self.assignment_id)
        source_cells = source_nb.source_cells
        ids = [cell.name for cell in source_cells]
        solution_ids = {cell.name for cell in source_nb.solution_cells}
        for grade_cell in source_nb.grade_cells:
            where = {c.metadata.get("nbgrader", {}).get("grade_id"): i for i, c in enumerate(nb.cells)
                     if c.metadata.get("nbgrader", {}).get("grade_id")}
            if grade_cell.name in where or grade_cell.name not in ids:
                continue
            self.log.warning("Missing grade cell %s encountered, adding to notebook", grade_cell.name)
            k = ids.index(grade_cell.name)
            added = self.missing_cell_transform(source_cells[k], grade_cell.max_score,
                                                is_solution=grade_cell.name in solution_ids)
            k -= 1
            while k >= 0 and ids[k] not in where:
                k -= 1
            nb.cells.insert(where[ids[k]] + 1 if k >= 0 else 0, added)
        return nb, resources

    OverwriteCells.add_missing_grade_cells = add_missing_grade_cells


if __name__ == "__main__" and sys.argv[1:] == ["--runner"]:
    sys.exit(_runner_main())
