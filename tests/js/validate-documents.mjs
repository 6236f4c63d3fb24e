// The reference validator (graphql-js, what graphql-config and codegen run) over a
// directory of GraphQL documents taken as one project, against an SDL file.
//   node validate-documents.mjs SCHEMA.graphql DIR
// Prints one line per problem; exits non-zero if there is any.
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { buildSchema, concatAST, parse, validate } from 'graphql';

const [sdlPath, dir] = process.argv.slice(2);
const schema = buildSchema(readFileSync(sdlPath, 'utf8'));

function files(path) {
  return statSync(path).isDirectory()
    ? readdirSync(path)
        .sort()
        .flatMap((name) => files(join(path, name)))
    : /\.(graphql|gql)$/.test(path)
      ? [path]
      : [];
}

const documents = files(dir).map((file) => parse(readFileSync(file, 'utf8')));
const errors = validate(schema, concatAST(documents));
for (const error of errors) console.log(error.message);
console.log(`${documents.length} document(s), ${errors.length} problem(s)`);
process.exit(errors.length ? 1 : 0);
