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
    benchmark:
        f"{OUTDIR}/benchmarks/bundle/{{cohort}}.tsv"
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
        config_digest=CONFIG_DIGEST,
        settings=bundle_settings,
    shell:
        "{params.europanel} bundle --cohort {wildcards.cohort} --samples {input.samples}"
        " --counts {input.counts} --vcf {input.vcfs} --contigs {params.contigs}"
        " --fasta {input.fasta} --config-digest {params.config_digest}"
        " {params.callable} --settings {params.settings:q}"
        " --output {params.folder} > {log} 2>&1"


rule all_bundles:
    input:
        expand(f"{OUTDIR}/bundles/{{cohort}}/manifest.json", cohort=COHORTS),
