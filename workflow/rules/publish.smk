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
    # Before the report jobs waiting for a core: the audit and the GDI export wait for
    # the panel, the reports do not. One thread declared although the Parquet is joined
    # on a second one while the VCF is indexed: declaring two made it wait for two free
    # cores, which left one idle for ~4 s on 2 cores (make bench's timeline).
    priority: 1
    conda:
        "../envs/publish.yaml"
    threads: 1
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
