"""Hatchling build hook: compile the optional Cython modules.

- ``discogs_tools/discogs/_walk.pyx``: the C walker of `ingest discogs` (reads lxml's parse
  events at C speed, see its docstring); without it the stage works through the pure-Python
  converters, 2-3x slower.
- ``discogs_tools/train/_crops.pyx``: the training crops' copy loop without the GIL; without it
  the loader copies through numpy + torch, and two crop threads are no faster than one.

Both are optional, so a failed build (no C compiler, no Cython) is a warning, never an error, and
one module failing does not stop the other. Each is compiled in place (next to its .pyx, where an
editable install imports it) and added to wheels as an artifact. Set DISCOGS_TOOLS_NO_EXTENSION=1
to skip them.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

# (module, source, needs lxml's C headers)
MODULES = [
    ("discogs_tools.discogs._walk", "discogs_tools/discogs/_walk.pyx", True),
    ("discogs_tools.train._crops", "discogs_tools/train/_crops.pyx", False),
]


def build_inplace(root: str, module: str, source: str, lxml_headers: bool) -> Path:
    """Compile one module next to its source; returns the path of the built library."""
    import lxml
    from Cython.Build import cythonize
    from setuptools import Distribution, Extension
    from setuptools.command.build_ext import build_ext

    cwd = os.getcwd()
    scratch = tempfile.mkdtemp(prefix="discogs-tools-build-")  # object files: not in the source tree
    os.chdir(root)
    try:
        includes = [os.path.dirname(source)] + (lxml.get_include() if lxml_headers else [])
        ext = Extension(module, [source], include_dirs=includes)
        dist = Distribution({"name": "discogs-tools-" + module.rsplit(".", 1)[1].strip("_"), "ext_modules": cythonize([ext], quiet=True)})
        cmd = build_ext(dist)
        cmd.inplace = True
        cmd.build_temp = os.path.join(scratch, "temp")
        cmd.build_lib = os.path.join(scratch, "lib")
        cmd.ensure_finalized()
        cmd.run()
        return Path(root) / cmd.get_ext_fullpath(module)
    finally:
        os.chdir(cwd)
        shutil.rmtree(scratch, ignore_errors=True)


class CustomBuildHook(BuildHookInterface):
    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        if os.environ.get("DISCOGS_TOOLS_NO_EXTENSION", "") not in ("", "0"):
            return
        for module, source, lxml_headers in MODULES:
            try:
                built = build_inplace(self.root, module, source, lxml_headers)
            except Exception as exc:  # noqa: BLE001 - any failure means: no extension, pure Python
                self.app.display_warning(f"discogs-tools: {module} was not built ({type(exc).__name__}: "
                                         f"{exc}); the pure-Python path will be used instead")
                continue
            build_data["pure_python"] = False
            build_data["infer_tag"] = True
            build_data["artifacts"].append(built.relative_to(self.root).as_posix())
