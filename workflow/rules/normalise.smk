rule normalise:
    input:
        vcfs=cohort_vcfs,
        fasta=FASTA,
        fai=f"{FASTA}.fai",
        cohorts=config["cohorts"],
        samples=config["samples"],
    output:
        bcf=temp(f"{OUTDIR}/normalised/{{cohort}}/{{chunk}}.bcf"),
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
        mem_mb=1000,
        runtime=60,
    shell:
        "europanel normalise --cohorts {input.cohorts} --samples {input.samples}"
        " --cohort {wildcards.cohort} --chunk {wildcards.chunk}"
        " --chunk-size {params.chunk_size} --fasta {input.fasta}"
        " --realign-window {params.realign_window} --ref-mismatch {params.ref_mismatch}"
        " --output {output.bcf} --stats {output.stats} > {log} 2>&1"
