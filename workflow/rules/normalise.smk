rule cohort_sheet:
    output:
        f"{OUTDIR}/sheets/{{cohort}}.samples.tsv",
    log:
        f"{OUTDIR}/logs/cohort_sheet/{{cohort}}.log",
    localrule: True
    conda:
        "../envs/normalise.yaml"
    params:
        europanel=EUROPANEL,
        sheet=config["samples"],
        # The cohort's rows are a parameter and the sheet is not an input: editing
        # one cohort's samples reruns that cohort only.
        rows=lambda wildcards: cohort_rows(wildcards.cohort),
    shell:
        "{params.europanel} cohort-sheet --cohort {wildcards.cohort} --samples {params.sheet}"
        " --output {output} > {log} 2>&1"


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
    conda:
        "../envs/normalise.yaml"
    threads: 1
    resources:
        mem_mb=normalise_mem_mb,
        runtime=normalise_runtime,
    params:
        europanel=EUROPANEL,
        chunk_size=config["chunk_size"],
        realign_window=config["normalise"]["realign_window"],
        ref_mismatch=config["normalise"]["ref_mismatch"],
    shell:
        "{params.europanel} normalise --cohort {wildcards.cohort} --samples {input.samples}"
        " --vcf {input.vcfs} --chunk {wildcards.chunk} --chunk-size {params.chunk_size}"
        " --fasta {input.fasta} --realign-window {params.realign_window}"
        " --ref-mismatch {params.ref_mismatch}"
        " --output {output.bcf} --stats {output.stats} > {log} 2>&1"
