# Served by Europe's genomic data infrastructure (docs/GDI.md): the all-sites AN of the
# published groups, and the GDI / Beacon v2 allele-frequency files, both from the
# published panel so that every privacy rule of the panel applies.


rule allsites_an:
    input:
        manifests=bundle_manifests,
        verified=VERIFIED_BUNDLES,
        panel=f"{PANEL_STEM}.sites.parquet",
    output:
        tsv=f"{PANEL_STEM}.allsites_an.tsv.gz",
        tbi=f"{PANEL_STEM}.allsites_an.tsv.gz.tbi",
        parquet=f"{PANEL_STEM}.allsites_an.parquet",
    log:
        f"{OUTDIR}/logs/allsites_an.log",
    benchmark:
        f"{OUTDIR}/benchmarks/allsites_an.tsv"
    conda:
        "../envs/publish.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        europanel=EUROPANEL,
        bundles=" ".join(BUNDLES),
        contigs=" ".join(CONTIGS),
        settings=stage_settings("allsites"),
    shell:
        "{params.europanel} allsites --bundles {params.bundles} --panel {input.panel}"
        " --verified {input.verified}"
        " --contigs {params.contigs} --settings {params.settings:q}"
        " --output {output.tsv} --parquet {output.parquet} > {log} 2>&1"


# Each chunk's piece of every country's file, in parallel (at Genome-of-Europe scale one
# job over the whole panel would take hours); gdi_export joins their bytes and indexes.
rule gdi_part:
    input:
        panel=f"{PANEL_STEM}.sites.parquet",
    output:
        temp(directory(f"{OUTDIR}/gdi_parts/{{chunk}}")),
    log:
        f"{OUTDIR}/logs/gdi_part/{{chunk}}.log",
    benchmark:
        f"{OUTDIR}/benchmarks/gdi_part/{{chunk}}.tsv"
    conda:
        "../envs/publish.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=gdi_part_runtime,
    params:
        europanel=EUROPANEL,
        region=lambda wildcards: CHUNK_REGIONS[wildcards.chunk],
        settings=stage_settings("gdi_export", countries=GDI_COUNTRIES),
    shell:
        "{params.europanel} gdi-export-part --panel {input.panel} --region {params.region}"
        " --settings {params.settings:q} --output {output} > {log} 2>&1"


rule gdi_export:
    input:
        parts=expand(f"{OUTDIR}/gdi_parts/{{chunk}}", chunk=CHUNKS),
        manifests=bundle_manifests,
        verified=VERIFIED_BUNDLES,
    output:
        summary=f"{OUTDIR}/gdi/summary.json",
    log:
        f"{OUTDIR}/logs/gdi_export.log",
    benchmark:
        f"{OUTDIR}/benchmarks/gdi_export.tsv"
    conda:
        "../envs/publish.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=publish_runtime,
    params:
        europanel=EUROPANEL,
        bundles=" ".join(BUNDLES),
        contigs=" ".join(CONTIGS),
        settings=stage_settings("gdi_export", countries=GDI_COUNTRIES),
    shell:
        "{params.europanel} gdi-export --parts {input.parts} --bundles {params.bundles}"
        " --verified {input.verified}"
        " --contigs {params.contigs} --settings {params.settings:q}"
        " --summary {output.summary} > {log} 2>&1"
