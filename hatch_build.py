"""Hatchling build hook: compile the optional C walker of `ingest discogs` (discogs_tools/discogs/_walk.pyx).

The walker is a Cython module that reads lxml's parsed trees at C speed (see its docstring);
without it the stage still works, through the pure-Python converters, 2-3x slower. So a
failed build (no C compiler, no Cython) is a warning, never an error. The module is compiled in
place (next to the .pyx, where an editable install imports it) and added to wheels as an
artifact. Set DISCOGS_TOOLS_NO_EXTENSION=1 to skip it.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

MODULE = "discogs_tools.discogs._walk"
SOURCE = "discogs_tools/discogs/_walk.pyx"


def build_inplace(root: str) -> Path:
    """Compile the walker next to its source; returns the path of the built library."""
    import lxml
    from Cython.Build import cythonize
    from setuptools import Distribution, Extension
    from setuptools.command.build_ext import build_ext

    cwd = os.getcwd()
    scratch = tempfile.mkdtemp(prefix="discogs-tools-build-")  # object files: not in the source tree
    os.chdir(root)
    try:
        ext = Extension(MODULE, [SOURCE], include_dirs=lxml.get_include())
        dist = Distribution({"name": "discogs-tools-walker", "ext_modules": cythonize([ext], quiet=True)})
        cmd = build_ext(dist)
        cmd.inplace = True
        cmd.build_temp = os.path.join(scratch, "temp")
        cmd.build_lib = os.path.join(scratch, "lib")
        cmd.ensure_finalized()
        cmd.run()
        return Path(root) / cmd.get_ext_fullpath(MODULE)
    finally:
        os.chdir(cwd)
        shutil.rmtree(scratch, ignore_errors=True)


class CustomBuildHook(BuildHookInterface):
    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        if os.environ.get("DISCOGS_TOOLS_NO_EXTENSION", "") not in ("", "0"):
            return
        try:
            built = build_inplace(self.root)
        except Exception as exc:  # noqa: BLE001 - any failure means: no extension, pure Python
            self.app.display_warning(f"discogs-tools: the compiled walker was not built ({type(exc).__name__}: "
                                     f"{exc}); `ingest discogs` will use the pure-Python converters")
            return
        build_data["pure_python"] = False
        build_data["infer_tag"] = True
        build_data["artifacts"].append(built.relative_to(self.root).as_posix())
