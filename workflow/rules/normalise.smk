rule cohort_sheet:
    output:
        f"{OUTDIR}/sheets/{{cohort}}.samples.tsv",
    log:
        f"{OUTDIR}/logs/cohort_sheet/{{cohort}}.log",
    params:
        # The cohort's rows as a parameter, not the sheet as an input: editing one
        # cohort's samples reruns that cohort only.
        rows=lambda wildcards: cohort_rows(wildcards.cohort),
    localrule: True
    resources:
        mem_mb=100,
        runtime=1,
    run:
        Path(output[0]).write_text(params.rows)
        Path(log[0]).write_text(f"{params.rows.count(chr(10)) - 1} samples\n")


rule normalise:
    input:
        vcfs=cohort_vcfs,
        indexes=cohort_vcf_indexes,
        samples=f"{OUTDIR}/sheets/{{cohort}}.samples.tsv",
        fasta=FASTA,
        fai=f"{FASTA}.fai",
    output:
        bcf=temp(f"{OUTDIR}/normalised/{{cohort}}/{{chunk}}.bcf"),
        csi=temp(f"{OUTDIR}/normalised/{{cohort}}/{{chunk}}.bcf.csi"),
        stats=f"{OUTDIR}/normalised/{{cohort}}/{{chunk}}.stats.json",
    log:
        f"{OUTDIR}/logs/normalise/{{cohort}}/{{chunk}}.log",
    benchmark:
        f"{OUTDIR}/benchmarks/normalise/{{cohort}}/{{chunk}}.tsv"
    params:
        chunk_size=config["chunk_size"],
        realign_window=config["normalise"]["realign_window"],
        ref_mismatch=config["normalise"]["ref_mismatch"],
    threads: 1
    resources:
        mem_mb=normalise_mem_mb,
        runtime=normalise_runtime,
    shell:
        "europanel normalise --cohort {wildcards.cohort} --samples {input.samples}"
        " --vcf {input.vcfs} --chunk {wildcards.chunk} --chunk-size {params.chunk_size}"
        " --fasta {input.fasta} --realign-window {params.realign_window}"
        " --ref-mismatch {params.ref_mismatch}"
        " --output {output.bcf} --stats {output.stats} > {log} 2>&1"
