"""The demo's own steps, put in front of the study's (`Reproduce.py --config demo`): they write
the synthetic data, a demo Sei and a tiny DNABERT-2 snapshot to the paths the demo configs name."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..errors import InputError
from ..pipeline.steps import Step, file_need
from ..pipeline.study import MadeBy, load_study_configs
from . import data as demo_data
from . import dnabert2 as demo_dnabert2
from . import sei as demo_sei


@dataclass
class DemoSizes:
    """Sizes of the demo's generated inputs (the tests make them tiny): the data (sequences,
    length, fraction retained) and the demo Sei's training sequences."""

    data: demo_data.DemoSettings = field(default_factory=demo_data.DemoSettings)
    demo_sei_sequences: int = 6000


def demo_input_steps(json_dir: str | Path, sizes: DemoSizes | None = None
                     ) -> tuple[list[Step], MadeBy]:
    """The steps that write the demo inputs, and which input each of them makes.

    Raises
    ------
    InputError
        The demo configs disagree on where the demo Sei is (FSei and Preprocess must name the
        same sei_path; target_names must be beside it).
    """
    j = Path(json_dir)
    sizes = sizes or DemoSizes()
    cfg = load_study_configs(j)
    fsei, pre, dnabert = cfg["FSei"], cfg["Preprocess"], cfg["DNABert2"]
    if Path(fsei.sei_path) != Path(pre.sei_path):
        raise InputError(f"{j / 'FSei.json'} loads the Sei trunk from {fsei.sei_path} but "
                         f"{j / 'Preprocess.json'} names {pre.sei_path}: the demo writes one "
                         f"demo Sei, so give both the same sei_path")
    sei_dir = Path(pre.sei_path).parent
    if Path(pre.target_names).parent != sei_dir:
        raise InputError(f"{j / 'Preprocess.json'}: the demo Sei's sei_path and target_names "
                         f"must be in one folder (the 'demo Sei' step writes both there)")
    data = Path(fsei.data_path)
    tiny = dnabert.model_name_or_path
    if cfg["DNABert2_original"].model_name_or_path != tiny:
        raise InputError(f"{j / 'DNABert2_original.json'} names the model "
                         f"{cfg['DNABert2_original'].model_name_or_path}, {j / 'DNABert2.json'} "
                         f"{tiny}: the demo writes one tiny DNABERT-2, so give both the same "
                         f"model_name_or_path")
    steps = [
        Step("demo data", "Make_demo_data.py",
             ["--out", str(data), "-n", str(sizes.data.n_sequences), "--length",
              str(sizes.data.length), "--positive-fraction", str(sizes.data.positive_fraction)], [],
             lambda: str(data) if demo_data.is_complete(data) else None),
        Step("demo Sei", "Preprocess_data_to_numpy.py",
             ["--json", str(j / "Preprocess.json"), "--make-demo-sei", str(sei_dir),
              "--demo-sei-sequences", str(sizes.demo_sei_sequences)], [],
             lambda: pre.sei_path if demo_sei.is_complete(sei_dir) else None),
        Step("tiny DNABERT-2", "DNABert2.py",
             ["--json", str(j / "DNABert2.json"), "--make-tiny-model", tiny],
             [file_need(data / demo_data.DATA_FILE, "the demo sequences",
                        "made by the 'demo data' step", "demo data")],
             lambda: tiny if demo_dnabert2.is_complete(tiny) else None),
    ]
    return steps, MadeBy(data="demo data", sei="demo Sei", dnabert2="tiny DNABERT-2")
