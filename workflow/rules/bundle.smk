rule bundle:
    input:
        counts=cohort_chunk_counts,
        vcfs=cohort_vcfs,
        samples=f"{OUTDIR}/sheets/{{cohort}}.samples.tsv",
        callable=cohort_callable,
        fasta=FASTA,
        fai=f"{FASTA}.fai",
    output:
        manifest=f"{OUTDIR}/bundles/{{cohort}}/manifest.json",
        counts=expand(
            f"{OUTDIR}/bundles/{{{{cohort}}}}/counts/{{contig}}.parquet",
            contig=CONTIGS,
        ),
    log:
        f"{OUTDIR}/logs/bundle/{{cohort}}.log",
    conda:
        "../envs/bundle.yaml"
    threads: 1
    resources:
        mem_mb=bundle_mem_mb,
        runtime=bundle_runtime,
    params:
        europanel=EUROPANEL,
        folder=lambda wildcards: f"{OUTDIR}/bundles/{wildcards.cohort}",
        contigs=" ".join(CONTIGS),
        callable=lambda wildcards, input: (
            f"--callable {input.callable}" if input.callable else ""
        ),
        ploidy=ploidy_options(),
        qc=qc_options(),
        config_digest=CONFIG_DIGEST,
        realign_window=config["normalise"]["realign_window"],
        ref_mismatch=config["normalise"]["ref_mismatch"],
        min_group_size=bundle_min_group_size(),
        salt=release_salt_option(),
        annotations=bundle_annotation_options,
    shell:
        "{params.europanel} bundle --cohort {wildcards.cohort} --samples {input.samples}"
        " --counts {input.counts} --vcf {input.vcfs} --contigs {params.contigs}"
        " --fasta {input.fasta} --config-digest {params.config_digest}"
        " {params.callable} {params.ploidy} {params.qc}"
        " --realign-window {params.realign_window} --ref-mismatch {params.ref_mismatch}"
        " --min-group-size {params.min_group_size} {params.salt}"
        " {params.annotations} --output {params.folder} > {log} 2>&1"


rule all_bundles:
    input:
        expand(f"{OUTDIR}/bundles/{{cohort}}/manifest.json", cohort=COHORTS),
