# The merge jobs write each chunk's piece of the panel (the costly part: VCF text), in
# parallel; this step joins the compressed pieces without recompressing them and indexes
# the panel.
rule publish:
    input:
        vcf_parts=expand(f"{OUTDIR}/panel_parts/{{chunk}}.vcf.gz", chunk=CHUNKS),
        parquet_parts=expand(f"{OUTDIR}/panel_parts/{{chunk}}.parquet", chunk=CHUNKS),
        manifests=bundle_manifests,
    output:
        vcf=f"{OUTDIR}/panel/{config['panel_name']}.sites.vcf.gz",
        tbi=f"{OUTDIR}/panel/{config['panel_name']}.sites.vcf.gz.tbi",
        parquet=f"{OUTDIR}/panel/{config['panel_name']}.sites.parquet",
        release=f"{OUTDIR}/panel/{config['panel_name']}.release.json",
    log:
        f"{OUTDIR}/logs/publish.log",
    benchmark:
        f"{OUTDIR}/benchmarks/publish.tsv"
    # Before the report jobs when cores free up together: the audit and the GDI export
    # wait for the panel, the reports do not.
    priority: 1
    conda:
        "../envs/publish.yaml"
    # The Parquet is joined while the VCF is indexed; Arrow sizes its pool by the job's
    # threads (OMP_NUM_THREADS): alone, 2.8 s with two, 3.2-4.2 s with one. On 2 cores it
    # waits for both to be free (~2 s of one idle core in the bench); on a cluster, where
    # this serial step is hours long, two threads halve it.
    threads: 2
    resources:
        mem_mb=publish_mem_mb,
        runtime=publish_runtime,
    params:
        europanel=EUROPANEL,
        bundles=" ".join(BUNDLES),
        config_digest=CONFIG_DIGEST,
        settings=stage_settings("publish"),
        vrs=f"--fasta {VRS_FASTA}" if VRS_FASTA else "",
    shell:
        "{params.europanel} publish --bundles {params.bundles}"
        " --vcf-parts {input.vcf_parts} --parquet-parts {input.parquet_parts}"
        " --config-digest {params.config_digest} {params.vrs}"
        " --vcf {output.vcf} --parquet {output.parquet} --release {output.release}"
        " --settings {params.settings:q} > {log} 2>&1"
