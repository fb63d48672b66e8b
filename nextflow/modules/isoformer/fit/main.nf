process ISOFORMER_FIT {
    tag "${meta.id}"
    label 'process_low'
    conda "${moduleDir}/environment.yml"
    container "ghcr.io/isoformer/isoformer:0.1.0"

    input:
    tuple val(meta), path(embeddings), path(observed)

    output:
    tuple val(meta), path("${prefix}.head.tsv"), emit: head
    tuple val("${task.process}"), val('isoformer'), eval("isoformer --version | sed 's/^isoformer //'"), topic: versions, emit: versions_isoformer

    when:
    task.ext.when == null || task.ext.when

    script:
    def args = task.ext.args ?: ''
    prefix   = task.ext.prefix ?: "${meta.id}"
    """
    isoformer fit \\
        --embeddings ${embeddings} \\
        --obs ${observed} \\
        ${args} \\
        --out ${prefix}.head.tsv
    """

    stub:
    def args = task.ext.args ?: ''
    prefix   = task.ext.prefix ?: "${meta.id}"
    """
    echo "${args}"
    touch ${prefix}.head.tsv
    """
}
