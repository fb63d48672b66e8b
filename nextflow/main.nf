#!/usr/bin/env nextflow
//
// isoformer: per-tissue transcript expression predicted for a whole annotation, scattered over GPU machines.
//   nextflow run nextflow/main.nf -profile test,docker[,gpu] --shards 4
//
include { ISOFORMER_SCATTER } from './subworkflows/isoformer_scatter/main'

workflow {
    ch_genome = channel.of( [ [ id: params.id ], file( params.fasta, checkIfExists: true ), file( params.gtf, checkIfExists: true ) ] )
    ch_model  = channel.of( [ [ id: 'model' ], file( params.model, checkIfExists: true ) ] )
    // Optional inputs are [] when absent (nf-core convention): the FASTA's indexes found beside it, the aliases.
    fasta_index = [ '.fai', '.gzi' ].collect { ext -> file( params.fasta + ext ) }.findAll { f -> f.exists() }
    chrom_alias = params.chrom_alias ? file( params.chrom_alias, checkIfExists: true ) : []

    ISOFORMER_SCATTER ( ch_genome, ch_model, fasta_index, chrom_alias, params.shards as int )

    // Versions of every tool, gathered from the 'versions' topic channel.
    channel.topic( 'versions' )
        .map { process, tool, version -> "${process.tokenize(':').last()}:\n  ${tool}: ${version}" }
        .unique()
        .collectFile( name: 'versions.yml', storeDir: "${params.outdir}/pipeline_info", newLine: true, sort: true )
}
