# Each chunk's records are formatted in parallel (the costly part: VCF text); the final
# step joins the compressed pieces without recompressing them and indexes the panel.
rule publish_part:
    input:
        chunk=f"{OUTDIR}/merged/{{chunk}}.parquet",
    output:
        vcf=temp(f"{OUTDIR}/panel_parts/{{chunk}}.vcf.gz"),
        parquet=temp(f"{OUTDIR}/panel_parts/{{chunk}}.parquet"),
    log:
        f"{OUTDIR}/logs/publish_part/{{chunk}}.log",
    benchmark:
        f"{OUTDIR}/benchmarks/publish_part/{{chunk}}.tsv"
    conda:
        "../envs/publish.yaml"
    threads: 1
    resources:
        mem_mb=publish_part_mem_mb,
        runtime=publish_part_runtime,
    params:
        europanel=EUROPANEL,
        vrs=f"--fasta {VRS_FASTA}" if VRS_FASTA else "",
    shell:
        "{params.europanel} publish-part --chunk-table {input.chunk} {params.vrs}"
        " --vcf-part {output.vcf} --parquet-part {output.parquet} > {log} 2>&1"


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
    conda:
        "../envs/publish.yaml"
    threads: 2  # the Parquet is joined while the VCF is indexed
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
