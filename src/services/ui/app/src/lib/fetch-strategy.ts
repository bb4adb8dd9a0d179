import {capabilities} from './capabilities'

/**
 * Asks pm's GraphQL first when pm serves it (the seed's UI does), its REST API otherwise or
 * when the GraphQL answer fails; a REST failure is the answer.
 */
export async function graphqlOrRest<T>(
  graphql: () => Promise<T>,
  rest: (pm: {graphql: boolean}) => Promise<T>,
): Promise<T> {
  const {graphql: available} = await capabilities()
  if (available) {
    try {
      return await graphql()
    } catch {
      // REST is the API every pm has; its answer (or failure) is what the page shows.
    }
  }
  return rest({graphql: available})
}
