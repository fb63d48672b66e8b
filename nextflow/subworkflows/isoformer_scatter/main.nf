//
// Scatter isoformer predict over shards of the annotation (whole genes, balanced by estimated cost, one task
// per GPU machine), then gather the shards into the files of one unsharded run with isoformer merge.
//
include { ISOFORMER_PREDICT } from '../../modules/isoformer/predict/main'
include { ISOFORMER_MERGE   } from '../../modules/isoformer/merge/main'

workflow ISOFORMER_SCATTER {

    take:
    ch_genome   // channel: [ val(meta), path(fasta), path(gtf) ]
    ch_model    // channel: [ val(meta2), path(model) ]
    fasta_index // path(s): the FASTA's .fai (and .gzi when bgzipped), or [] to index in each task
    chrom_alias // path: UCSC chromAlias file, or [] when the annotation and the FASTA name contigs alike
    n_shards    // integer: number of shards (1 = no scatter)

    main:
    ch_shards = ch_genome
        .combine( channel.of( 1..n_shards ) )
        .map { meta, fasta, gtf, i ->
            def shard_meta = meta + [ id: "${meta.id}.shard${i}of${n_shards}", scatter_id: meta.id ]
            [ shard_meta, fasta, gtf, "${i}/${n_shards}" ]
        }

    ISOFORMER_PREDICT ( ch_shards, ch_model.first(), fasta_index, chrom_alias )

    // Gather every shard's files under the original sample, waiting for exactly n_shards shards: with each
    // shard's run manifest, which merge checks the shards against, and every file it lists (the embeddings too,
    // when ext.args asks predict for them).
    ch_gathered = ISOFORMER_PREDICT.out.tsv
        .join( ISOFORMER_PREDICT.out.bed )
        .join( ISOFORMER_PREDICT.out.manifest )
        .join( ISOFORMER_PREDICT.out.bigwig, remainder: true )
        .join( ISOFORMER_PREDICT.out.embeddings, remainder: true )
        .map { meta, tsv, bed, manifest, bigwig, embeddings ->
            def optional = { f -> f ? ( f instanceof List ? f : [ f ] ) : [] }
            [ meta.scatter_id, [ tsv, bed, manifest ] + optional( bigwig ) + optional( embeddings ) ]
        }
        .groupTuple( size: n_shards )
        .map { id, files -> [ [ id: id ], files.flatten() ] }

    ISOFORMER_MERGE ( ch_gathered )

    emit:
    tsv      = ISOFORMER_MERGE.out.tsv        // channel: [ val(meta), path(tsv) ]
    bed      = ISOFORMER_MERGE.out.bed        // channel: [ val(meta), path(bed) ]
    bigwig   = ISOFORMER_MERGE.out.bigwig     // channel: [ val(meta), [ path(bw) ] ]
    manifest = ISOFORMER_MERGE.out.manifest   // channel: [ val(meta), path(run.json) ]
    embeddings = ISOFORMER_MERGE.out.embeddings   // channel: [ val(meta), path(embeddings.tsv) ], with --embeddings
}
