# The merge jobs write each chunk's piece of the panel (the costly part: VCF text and
# Parquet), in parallel; this step joins the pieces' bytes (BGZF blocks, Parquet column
# chunks) without decoding them, and the pieces' indexes into the panel's.
rule publish:
    input:
        vcf_parts=expand(f"{OUTDIR}/panel_parts/{{chunk}}.vcf.gz", chunk=CHUNKS),
        vcf_indexes=expand(f"{OUTDIR}/panel_parts/{{chunk}}.vcf.gz.tbi", chunk=CHUNKS),
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
