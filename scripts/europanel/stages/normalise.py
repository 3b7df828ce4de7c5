"""Normalise one cohort's records of one chunk with bcftools (DESIGN §2.2).

bcftools does the work (pysam ships it, so no separate install). Per chunk:

1. `view -r`: the chunk widened by `realign_window` on both sides, because
   left-alignment moves an indel left (into the chunk from the right) and
   trimming a shared prefix moves a record right; keep only sheet samples
   (`--no-update`: the input's INFO AC/AN are never read, they may disagree with its GT);
2. `annotate`: rename contigs to the reference's names, drop INFO and every
   FORMAT field counting does not need. When the file holds exactly the sheet's
   samples in order, `annotate` does steps 1 and 2 in one pass, reading the window's
   text already inflated by `europanel.io.region_text` through a pipe (bgzipped VCF
   with a .tbi; otherwise `annotate -r`);
3. `norm -m -any -d exact -f`: split multiallelics, left-align, check REF, and remove
   exact duplicates among the split, left-aligned records, in one pass (the same
   records and counts as `norm -m | norm -d exact`, tests/test_real_world_vcfs.py);
4. `view -t`: keep records whose *normalised* POS is in the chunk, so each
   variant is in exactly one chunk and the same variant written at different
   positions by two cohorts meets in one chunk. The workflow's count job leaves
   this step to its BCF reader, which skips the same records as it reads
   (`europanel.io.bcf.BcfReader.blocks` with a region): one BCF pass less.
"""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
import tempfile
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import pysam
from pysam import bcftools

from europanel.core.regions import Chunk, harmonised_name
from europanel.io.sheets import InputError

COUNTED_FORMAT_FIELDS = ("GT", "AD", "DP", "GQ")
F_SETPIPE_SZ = getattr(fcntl, "F_SETPIPE_SZ", 1031)
PIPE_SIZE = 1 << 20  # /proc/sys/fs/pipe-max-size, the most an unprivileged process may ask


@dataclass(frozen=True)
class InputContigs:
    """One input file and the reference names of the contigs it holds records for."""

    path: str
    to_reference: dict[str, str]  # input contig name -> reference contig name

    def input_name(self, reference_contig: str) -> str | None:
        for name, ref_name in self.to_reference.items():
            if ref_name == reference_contig:
                return name
        return None


def input_contigs(path: str, reference_contigs: set[str]) -> InputContigs:
    """Map the contigs an indexed input has records on to reference names."""
    with pysam.VariantFile(path) as vcf:
        names = list(vcf.index.keys()) if vcf.index is not None else list(vcf.header.contigs)
    mapping = {}
    for name in names:
        ref_name = harmonised_name(name, reference_contigs)
        if ref_name is not None:
            mapping[name] = ref_name
    return InputContigs(path, mapping)


def run_bcftools(command, *args: str) -> str:
    """Run a pysam bcftools command and return its messages; failures become readable errors."""
    try:
        command(*args, catch_stdout=False)
    except pysam.utils.SamtoolsError as error:
        raise RuntimeError(f"bcftools {' '.join(args)} failed:\n{error}") from None
    return command.get_messages() or ""


def annotate_window(path: str, contig: str, begin: int, end: int, args: list[str], out) -> None:
    """`bcftools annotate args` of the records of `path` overlapping contig:begin-end into
    `out`. A bgzipped VCF with a .tbi is read as text that `europanel.io.region_text`
    inflates in a second process (ISA-L, not pysam's zlib); the same records, and htslib
    parses them as from the file. Anything else, or if that process cannot do it, goes
    through htslib's region query, which also reports any problem of the file."""
    if os.path.exists(f"{path}.tbi") and annotate_from_pipe(path, contig, begin, end, args, out):
        return
    run_bcftools(
        bcftools.annotate, "--no-version", "-r", f"{contig}:{begin}-{end}", *args,
        "-o", str(out), path,
    )  # fmt: skip


def annotate_from_pipe(path: str, contig: str, begin: int, end: int, args, out) -> bool:
    """Whether `annotate` read the window from `region_text` and both ended well."""
    import europanel

    package_root = str(Path(europanel.__file__).resolve().parent.parent)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [package_root, env.get("PYTHONPATH")]))
    read_end, write_end = os.pipe()
    with suppress(OSError):  # fewer switches between writer and reader (Linux)
        fcntl.fcntl(write_end, F_SETPIPE_SZ, PIPE_SIZE)
    try:
        # The interpreter running this job, never whatever `python` PATH finds.
        writer = subprocess.Popen(
            [sys.executable, "-m", "europanel.io.region_text", path, contig, str(begin), str(end)],
            stdout=write_end,
            env=env,
        )
    finally:
        os.close(write_end)
    try:
        source = f"/dev/fd/{read_end}"
        run_bcftools(bcftools.annotate, "--no-version", *args, "-o", str(out), source)
        annotated = True
    except RuntimeError:
        # bcftools stopped early, and may keep the pipe open (pysam catches its exit):
        # the writer would wait on a full pipe.
        writer.kill()
        annotated = False
    finally:
        os.close(read_end)
    return writer.wait() == 0 and annotated


def norm_line_counts(messages: str) -> dict[str, int]:
    """Parse bcftools norm's `Lines total/split/.../skipped:` summary line."""
    for line in messages.splitlines():
        if line.startswith("Lines"):
            names, values = line.split(":", 1)
            keys = names.split()[-1].split("/")
            return dict(zip(keys, map(int, values.split("/"))))
    return {}


def ref_mismatches(messages: str) -> list[tuple[str, str, str, str]]:
    """(contig, pos, VCF REF, FASTA REF) of each REF_MISMATCH line from `norm -c w`."""
    return [
        tuple(line.split("\t")[1:5])
        for line in messages.splitlines()
        if line.startswith("REF_MISMATCH")
    ]


def file_samples(path: str) -> list[str]:
    with pysam.VariantFile(path) as vcf:
        return list(vcf.header.samples)


@contextmanager
def read_errors(path: str, window: str):
    """bcftools failing to read `window` of an input becomes one readable InputError."""
    try:
        yield
    except RuntimeError as error:
        # The header was validated before the run; a block that fails to decode
        # later means the file is damaged (a corrupted copy).
        detail = str(error).split("stderr=")[-1].replace("\\n", " ").strip(" '\")")
        if "Undefined tags" in detail:
            # Not damage: a FORMAT key written twice in a record, or one no
            # ##FORMAT line declares (validation looks at the first records only).
            raise InputError(
                f"{path}: a record in {window} has a FORMAT key written twice or "
                "not declared by a ##FORMAT header line, so bcftools cannot keep "
                f"only the sheet's samples; find it with `bcftools view {path} "
                f"-r {window} > /dev/null` (htslib names the key), then declare "
                "the key (`bcftools annotate -h`) or write it once"
            ) from None
        raise InputError(
            f"{path}: cannot be read in {window} (bcftools: {detail}); the "
            "file is damaged: copy it again from the source (compare checksums) or "
            f"re-create it, and check it with `bcftools view {path} > /dev/null`"
        ) from None


def normalise_chunk(
    inputs: list[InputContigs],
    chunk: Chunk,
    samples: list[str],
    fasta: str,
    out_bcf: str,
    realign_window: int = 1000,
    ref_mismatch: str = "error",
) -> dict[str, int]:
    """Write the cohort's normalised, deduplicated, biallelic records of `chunk` as an
    indexed BCF (tests and benchmarks; the workflow counts in the same pass,
    `europanel.stages.count_chunk`). Returns what happened to the records (for the QC report)."""
    with tempfile.TemporaryDirectory(dir=Path(out_bcf).parent) as tmp:
        finished = Path(tmp) / "chunk.bcf"
        stats = normalise_to_bcf(
            Path(tmp), inputs, chunk, samples, fasta, finished, realign_window, ref_mismatch
        )
        run_bcftools(bcftools.index, str(finished))
        publish_bcf(finished, out_bcf)
    return stats


def normalise_to_bcf(
    tmp: Path,
    inputs: list[InputContigs],
    chunk: Chunk,
    samples: list[str],
    fasta: str,
    out_bcf: Path,
    realign_window: int,
    ref_mismatch: str,
    chunk_only: bool = True,
) -> dict[str, int]:
    """The steps of the module docstring, intermediate files in `tmp`: `out_bcf` gets the
    chunk's records as uncompressed BCF (still BGZF-framed), not indexed. Returns the
    record statistics. `chunk_only=False` skips step 4: `out_bcf` then also holds the
    records normalised to a position in the realign window outside the chunk, which
    its reader must leave out (`BcfReader.blocks(..., chunk.contig, chunk.start, chunk.end)`)."""
    sources = [(i.path, i.input_name(chunk.contig)) for i in inputs]
    sources = [(path, name) for path, name in sources if name is not None]
    keep_format = ",".join(f"FORMAT/{f}" for f in COUNTED_FORMAT_FIELDS)
    sample_file = tmp / "samples.txt"
    sample_file.write_text("\n".join(samples) + "\n")
    if not sources:
        write_empty_bcf(inputs[0].path, sample_file, out_bcf)
        return {
            "input_records": 0,
            "split": 0,
            "realigned": 0,
            "ref_mismatch": 0,
            "duplicates": 0,
        }
    rename = tmp / "rename.txt"
    rename.write_text("".join(f"{n}\t{r}\n" for i in inputs for n, r in i.to_reference.items()))
    pieces = []
    for k, (path, name) in enumerate(sources):
        begin, end = max(1, chunk.start - realign_window), chunk.end + realign_window
        window = f"{name}:{begin}-{end}"
        raw, annotated = tmp / f"raw{k}.bcf", tmp / f"annotated{k}.bcf"
        strip = ["--rename-chrs", str(rename), "-x", f"INFO,^{keep_format}", "-Ou"]
        if file_samples(path) == samples:
            # The file holds exactly the sheet's samples, in order (the usual case): one
            # pass reads the window and strips the fields, without a BCF in between. If it
            # fails, the two passes below run and name the problem.
            try:
                annotate_window(path, name, begin, end, strip, annotated)
                pieces.append(annotated)
                continue
            except RuntimeError:
                pass
        with read_errors(path, window):
            run_bcftools(
                bcftools.view,
                "--no-version",
                "-r",
                window,
                "-S",
                str(sample_file),
                # Not recomputing INFO AC/AN on subsetting: they are dropped next,
                # and htslib would stop at an input whose INFO disagrees with its GT.
                "--no-update",
                "-Ou",
                "-o",
                str(raw),
                path,
            )
        run_bcftools(bcftools.annotate, "--no-version", *strip, "-o", str(annotated), str(raw))
        pieces.append(annotated)
    joined = pieces[0]
    if len(pieces) > 1:
        # A contig spread over several files of one cohort: join, then sort.
        concatenated, joined = tmp / "concat.bcf", tmp / "sorted.bcf"
        run_bcftools(
            bcftools.concat, "--no-version", "-Ou", "-o", str(concatenated), *map(str, pieces)
        )
        run_bcftools(bcftools.sort, "-T", str(tmp), "-Ou", "-o", str(joined), str(concatenated))
    # Uncompressed (still BGZF-framed): temp files read once, by the next step or by the
    # counter in the same process; compressing at level 6 was most of the old job's time.
    normalised = tmp / "normalised.bcf" if chunk_only else out_bcf
    check = "wx" if ref_mismatch == "drop" else "w"
    messages = run_bcftools(
        bcftools.norm,
        "--no-version",
        "-f",
        fasta,
        "-c",
        check,
        "-m",
        "-any",
        "-d",
        "exact",
        "-Ou",
        "-o",
        str(normalised),
        str(joined),
    )
    # Once per site: bcftools reports a multiallelic site once per ALT it splits.
    mismatches = list(dict.fromkeys(m for m in ref_mismatches(messages) if chunk_owns(chunk, m)))
    if mismatches and ref_mismatch == "error":
        shown = "; ".join(f"{c}:{p} VCF {v} vs FASTA {r}" for c, p, v, r in mismatches[:5])
        raise InputError(
            f"{', '.join(p for p, _ in sources)}: {len(mismatches)} REF allele(s) in "
            f"{chunk.region} do not match {fasta} (first: {shown}). Check that the input "
            "was called against this reference, or set `normalise: {ref_mismatch: drop}` "
            "to leave such records out (they are counted in the report)"
        )
    line_counts = norm_line_counts(messages)
    if chunk_only:
        run_bcftools(
            bcftools.view, "--no-version", "-t", chunk.region, "-Ou",
            "-o", str(out_bcf), str(normalised),
        )  # fmt: skip
    # Window-wide counts (the window overlaps neighbouring chunks); the report uses ratios.
    return {
        "input_records": line_counts.get("total", 0),
        "split": line_counts.get("split", 0),
        "realigned": line_counts.get("realigned", 0),
        "ref_mismatch": len(mismatches),
        "duplicates": line_counts.get("dup_removed", 0),
    }


def chunk_owns(chunk: Chunk, mismatch: tuple[str, str, str, str]) -> bool:
    """A REF mismatch is reported by the chunk it lies in, not by its neighbours' windows."""
    return chunk.start <= int(mismatch[1]) <= chunk.end


def publish_bcf(finished: Path, out_bcf: str) -> None:
    """Move the BCF and its index to their final paths: each appears only when complete."""
    os.replace(f"{finished}.csi", f"{out_bcf}.csi")
    os.replace(finished, out_bcf)


def write_empty_bcf(template: str, sample_file: Path, out_bcf: Path):
    """A chunk the cohort has no records on: a header-only BCF with the cohort's samples."""
    run_bcftools(
        bcftools.view,
        "--no-version",
        "-h",
        "-S",
        str(sample_file),
        "-Ou",
        "-o",
        str(out_bcf),
        template,
    )
