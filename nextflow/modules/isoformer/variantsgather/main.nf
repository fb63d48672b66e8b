process ISOFORMER_VARIANTSGATHER {
    tag "${meta.id}"
    label 'process_single'
    conda "${moduleDir}/environment.yml"
    container "ghcr.io/isoformer/isoformer:0.1.0"

    input:
    tuple val(meta), path(shard_files, stageAs: 'shards/*')   // every shard's .variants.vcf.gz(.tbi/.csi), .tsv, .svg and .run.json

    output:
    tuple val(meta), path("${prefix}.variants.vcf.gz")           , emit: vcf
    tuple val(meta), path("${prefix}.variants.vcf.gz.{tbi,csi}") , emit: index
    tuple val(meta), path("${prefix}.variants.tsv")              , emit: tsv
    tuple val(meta), path("${prefix}.variants.svg")              , emit: svg
    tuple val(meta), path("${prefix}.run.json")                  , emit: manifest, optional: true   // when the shards had theirs
    tuple val("${task.process}"), val('isoformer'), eval("isoformer --version | sed 's/^isoformer //'"), topic: versions, emit: versions_isoformer

    when:
    task.ext.when == null || task.ext.when

    script:
    def args = task.ext.args ?: ''
    prefix   = task.ext.prefix ?: "${meta.id}"
    """
    isoformer variants --gather \\
        ${args} \\
        --out ${prefix} \\
        \$(ls shards/*.variants.tsv | sed 's/\\.variants\\.tsv\$//')
    """

    stub:
    def args = task.ext.args ?: ''
    prefix   = task.ext.prefix ?: "${meta.id}"
    """
    echo "${args}"
    echo "" | gzip > ${prefix}.variants.vcf.gz
    touch ${prefix}.variants.vcf.gz.tbi
    printf 'chrom\\tpos\\tid\\tref\\talt\\ttranscript_id\\n' > ${prefix}.variants.tsv
    printf '<svg xmlns="http://www.w3.org/2000/svg"/>\\n' > ${prefix}.variants.svg
    touch ${prefix}.run.json
    """
}
